/** Locates the sandbox data files, which live in `sandbox/` at the project root. */
import fs from 'node:fs';
import path from 'node:path';

/** Directory levels searched above this file: src/sandbox from the sources, dist/src/sandbox once built. */
const MAX_LEVELS_UP = 6;

/**
 * Returns the absolute path of `sandbox/<subdirectory>` in the nearest ancestor
 * of this file that has one.
 *
 * @throws Error naming the subdirectory and the start directory when none is found.
 */
export function findSandboxDataDir(subdirectory: string): string {
  let directory = __dirname;
  for (let level = 0; level <= MAX_LEVELS_UP; level += 1) {
    const candidate = path.join(directory, 'sandbox', subdirectory);
    if (fs.existsSync(candidate) && fs.statSync(candidate).isDirectory()) {
      return candidate;
    }
    directory = path.dirname(directory);
  }
  throw new Error(
    `Missing sandbox data directory sandbox/${subdirectory} above ${__dirname}; pass dataDir to the simulator`,
  );
}
