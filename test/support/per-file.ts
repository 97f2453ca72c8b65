// Run in every test file's worker before its tests (vitest setupFiles): once the file's last test
// and its own hooks are done, the temp dirs its tests made are removed. A worker may end without
// an 'exit' event, which is all testkit's own cleanup would otherwise wait for.
import { afterAll } from 'vitest';
import { removeTempDirs } from '../../testkit/fixtures.js';

// Registered before the file's own hooks, so it runs after them (after-hooks run in reverse).
afterAll(() => removeTempDirs());
