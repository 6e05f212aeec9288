/**
 * Starts the compiled add-on (dist/src/server.js) as a child process on 127.0.0.1
 * and stops it by its process id. Tests, benchmarks and the reliability run use it
 * for what needs a process of its own: several replicas, signals, a hard kill,
 * CPU and memory readings. `npm run build` must have run first.
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { findProjectRoot } from '../paths';
import { freePort } from './free-port';

const DEFAULT_START_TIMEOUT_MS = 15_000;
const DEFAULT_POLL_INTERVAL_MS = 100;
/** server.ts gives requests in flight 10 s after SIGTERM, so SIGKILL follows only after this. */
const STOP_TIMEOUT_MS = 12_000;
const PROBE_TIMEOUT_MS = 1_000;
/** A closed port, so that a child started without DOCKER_HUB_URL never calls the real Docker Hub. */
const UNREACHABLE_DOCKER_HUB_URL = 'http://127.0.0.1:9';

export interface AddonChildOptions {
  /**
   * Variables added to the child's environment, over the defaults: PATH, NODE_ENV=test,
   * LOG_LEVEL=warn, PORT and AC_LOCAL_BASE_URL of the chosen port, and DOCKER_HUB_URL
   * pointing at a closed port.
   */
  env?: Record<string, string>;
  /** Listening port; by default a free one. */
  port?: number;
  /** Node options placed before the script, such as --cpu-prof. */
  nodeArgs?: string[];
  /** Project folder whose dist/src/server.js runs; it is also the working directory. Default: this project. */
  root?: string;
  /** Milliseconds to wait for the first 200 from /healthz. Default 15,000. */
  startTimeoutMs?: number;
  /** Milliseconds between two /healthz probes while waiting for start-up. Default 100. */
  pollIntervalMs?: number;
}

export interface AddonChild {
  url: string;
  port: number;
  pid: number;
  child: ChildProcess;
  /** Milliseconds from spawn() to the first /healthz response with status 200. */
  startupMs: number;
  /** Resolves with the exit code once the process has exited and its output has ended. */
  exited: Promise<number | null>;
  /** Standard output and error of the child so far. */
  output(): string;
  /** True while the child has not exited and its pid still exists. */
  running(): boolean;
  /** Sends a signal to this process only, by its pid, while it runs. */
  signal(name: NodeJS.Signals): void;
  /** Stops the process with SIGTERM, and with SIGKILL when it has not exited after 12 s. */
  stop(): Promise<void>;
}

export function compiledServerEntry(root: string = findProjectRoot()): string {
  return path.join(root, 'dist', 'src', 'server.js');
}

/**
 * Spawns the add-on and resolves once GET /healthz responds 200.
 *
 * @throws Error with the child's output when it exits or does not serve in time.
 */
export async function startAddonChild(options: AddonChildOptions = {}): Promise<AddonChild> {
  const root = options.root ?? findProjectRoot();
  const entry = compiledServerEntry(root);
  if (!fs.existsSync(entry)) {
    throw new Error(`Missing ${entry}: run "npm run build" first`);
  }
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const startedAt = performance.now();
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), entry], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      PORT: String(port),
      AC_LOCAL_BASE_URL: url,
      LOG_LEVEL: 'warn',
      DOCKER_HUB_URL: UNREACHABLE_DOCKER_HUB_URL,
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  // 'close' comes after the output streams have ended, so the output is complete by then.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));

  const running = () => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
      return false;
    }
    try {
      process.kill(child.pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const signal = (name: NodeJS.Signals) => {
    if (running()) process.kill(child.pid!, name);
  };
  const stop = async () => {
    if (!running()) {
      await exitedOrTimeout(exited, STOP_TIMEOUT_MS);
      return;
    }
    signal('SIGTERM');
    if ((await exitedOrTimeout(exited, STOP_TIMEOUT_MS)) === 'timeout') {
      signal('SIGKILL');
      await exited;
    }
  };

  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const deadline = startedAt + startTimeoutMs;
  while (performance.now() < deadline) {
    if (!running()) {
      const code = await exited;
      throw new Error(`The add-on exited with ${code ?? child.signalCode} during start-up:\n${output}`);
    }
    if (await probeHealth(url)) {
      const startupMs = performance.now() - startedAt;
      return { url, port, pid: child.pid!, child, startupMs, exited, output: () => output, running, signal, stop };
    }
    await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
  }
  signal('SIGKILL');
  await exited;
  throw new Error(`The add-on did not respond 200 on /healthz within ${startTimeoutMs} ms:\n${output}`);
}

/**
 * Returns whether GET /healthz responds 200 within one second, on a new connection.
 * A port that accepts connections but never responds counts as not healthy.
 */
export function probeHealth(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get(`${url}/healthz`, { agent: false, timeout: PROBE_TIMEOUT_MS }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode === 200));
      response.on('error', () => resolve(false));
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(false));
  });
}

async function exitedOrTimeout(exited: Promise<unknown>, timeoutMs: number): Promise<'exited' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const outcome = await Promise.race([exited.then(() => 'exited' as const), timeout]);
  clearTimeout(timer);
  return outcome;
}
