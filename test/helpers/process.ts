/**
 * Runs the compiled add-on (dist/src/server.js) as a child process, for tests that
 * need several replicas, signals or a hard kill. `npm test` compiles before jest runs.
 */
import fs from 'node:fs';
import { AddonChild, compiledServerEntry, startAddonChild } from '../../src/sandbox/addon-process';
export { freePort } from '../../src/sandbox/free-port';

export type AddonProcess = AddonChild;

export function compiledServerExists(): boolean {
  return fs.existsSync(compiledServerEntry());
}

export function startAddonProcess(env: Record<string, string>, port?: number): Promise<AddonProcess> {
  return startAddonChild({ env, port });
}

/** Stops the process with SIGTERM and waits, then SIGKILL if it does not exit in time. */
export async function stopAddonProcess(addon: AddonProcess | undefined): Promise<void> {
  await addon?.stop();
}
