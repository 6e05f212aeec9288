/**
 * Runs the compiled add-on (dist/src/server.js) as a child process, for tests that
 * need several replicas, signals or a hard kill. `npm test` compiles before jest runs.
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
export { freePort } from '../../src/sandbox/free-port';
import { freePort } from '../../src/sandbox/free-port';

const SERVER_ENTRY = path.join(__dirname, '..', '..', 'dist', 'src', 'server.js');
const START_TIMEOUT_MS = 15_000;

export interface AddonProcess {
  url: string;
  port: number;
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** Sends a signal to this process only, by its pid. */
  signal(name: NodeJS.Signals): void;
}

export function compiledServerExists(): boolean {
  return fs.existsSync(SERVER_ENTRY);
}

/** Returns whether GET /healthz responds 200 within one second. A port that accepts connections but never responds counts as not healthy. */
function healthy(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get(`${url}/healthz`, { timeout: 1000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.on('timeout', () => {
      request.destroy();
      resolve(false);
    });
    request.on('error', () => resolve(false));
  });
}

export async function startAddonProcess(env: Record<string, string>, port?: number): Promise<AddonProcess> {
  const chosenPort = port ?? (await freePort());
  const url = `http://127.0.0.1:${chosenPort}`;
  const child = spawn(process.execPath, [SERVER_ENTRY], {
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      PORT: String(chosenPort),
      AC_LOCAL_BASE_URL: url,
      LOG_LEVEL: 'warn',
      DOCKER_HUB_URL: 'http://127.0.0.1:9',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  // 'close' comes after the output streams have ended, so the output is complete by then.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      const code = await exited;
      throw new Error(`add-on exited with ${code} during start-up:\n${output}`);
    }
    if (await healthy(url)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (Date.now() >= deadline) {
    child.kill('SIGKILL');
    throw new Error(`add-on did not answer /healthz within ${START_TIMEOUT_MS} ms:\n${output}`);
  }
  return {
    url,
    port: chosenPort,
    child,
    output: () => output,
    exited,
    signal: (name) => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, name);
    },
  };
}

/** Stops the process with SIGTERM and waits, then SIGKILL if it does not exit in time. */
export async function stopAddonProcess(addon: AddonProcess | undefined): Promise<void> {
  if (!addon || addon.child.exitCode !== null) return;
  addon.signal('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), 12_000);
  });
  const outcome = await Promise.race([addon.exited, timeout]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    addon.signal('SIGKILL');
    await addon.exited;
  }
}
