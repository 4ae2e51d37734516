// Builds dist/bundle (see src/cli/self.ts, buildBundle) from the sources, after `tsc` built dist/.
import { buildBundle } from '../dist/src/cli/self.js';

const t0 = Date.now();
buildBundle();
console.error(`setup: bundled in ${Date.now() - t0} ms`);
