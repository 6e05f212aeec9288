import fs from 'node:fs';
import path from 'node:path';

/** Returns the folder holding package.json, whether the code runs from src/ (tests) or dist/src/ (build). */
export function findProjectRoot(start = __dirname): string {
  let current = start;
  for (let depth = 0; depth < 8; depth += 1) {
    if (fs.existsSync(path.join(current, 'package.json'))) {
      return current;
    }
    current = path.dirname(current);
  }
  throw new Error(`package.json not found above ${start}`);
}
