#!/usr/bin/env node
/**
 * @module images/run
 * Lean entry point for a built-in image's program: loads only that program, not the whole
 * svcplane CLI, so each pod starts fast and stays small (`svcplane image-run` does the same).
 */
import { runImageProgram } from './programs/index.js';

runImageProgram(process.argv[2] ?? '', process.argv.slice(3));
