import { MemoryStore } from './memory.js';
import { runStoreConformance } from './conformance.js';

runStoreConformance('memory', async () => new MemoryStore());
