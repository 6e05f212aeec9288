/**
 * Runs the compiled add-on (dist/src/server.js) as a child process, so that its
 * event loop, CPU time and memory are its own and not shared with the load
 * generator or the simulators. `npm run build` must have run first.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ADDON_NODE_ARGS, ADDON_ROOT } from './report';
import { freePort } from '../../src/sandbox/free-port';

export { ADDON_ROOT };

export const SERVER_ENTRY = path.join(ADDON_ROOT, 'dist', 'src', 'server.js');

const DEFAULT_START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 12_000;
const PROBE_TIMEOUT_MS = 1_000;

export interface AddonProcessOptions {
  /** Variables added to the child's environment, overriding the defaults below. */
  env?: Record<string, string>;
  /** Node options placed before the script, such as --cpu-prof, after those from BENCH_NODE_ARGS. */
  nodeArgs?: string[];
  /** Milliseconds between two /healthz probes while waiting for start-up. Default 10. */
  pollIntervalMs?: number;
  startTimeoutMs?: number;
}

export interface AddonProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  /** Milliseconds from spawn() to the first /healthz response with status 200. */
  startupMs: number;
  /** Standard output and error of the child so far. */
  output(): string;
  /** Stops this process by its pid: SIGTERM, then SIGKILL after 12 s. Also removes its temporary directory. */
  stop(): Promise<void>;
}

/**
 * Spawns the add-on on a free port with its own sqlite file in a temporary
 * directory and in-memory shared state (no REDIS_URL), and resolves once
 * /healthz responds with 200.
 *
 * @throws Error with the child's output when it exits or does not serve in time.
 */
export async function startAddonProcess(options: AddonProcessOptions = {}): Promise<AddonProcess> {
  if (!fs.existsSync(SERVER_ENTRY)) {
    throw new Error(`Missing ${SERVER_ENTRY}: run "npm run build" first`);
  }
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'addon-bench-'));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'test',
    PORT: String(port),
    AC_LOCAL_BASE_URL: url,
    LOG_LEVEL: 'warn',
    DATABASE_URL: `sqlite:${path.join(dataDir, 'tenants.sqlite')}`,
    DOCKER_HUB_URL: 'http://127.0.0.1:9',
    ...options.env,
  };

  const startedAt = performance.now();
  const child = spawn(process.execPath, [...ADDON_NODE_ARGS, ...(options.nodeArgs ?? []), SERVER_ENTRY], {
    cwd: ADDON_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async () => {
    await stopChild(child, exited);
    fs.rmSync(dataDir, { recursive: true, force: true });
  };

  const pollIntervalMs = options.pollIntervalMs ?? 10;
  const deadline = startedAt + (options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
  let startupMs: number | undefined;
  while (performance.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`The add-on exited during start-up (code ${child.exitCode}):\n${output}`);
    }
    if ((await probeStatus(`${url}/healthz`)) === 200) {
      startupMs = performance.now() - startedAt;
      break;
    }
    await sleep(pollIntervalMs);
  }
  if (startupMs === undefined) {
    await stop();
    throw new Error(`The add-on did not serve /healthz within ${options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS} ms:\n${output}`);
  }
  return { url, pid: child.pid!, child, startupMs, output: () => output, stop };
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
    return;
  }
  process.kill(child.pid, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS);
  });
  const outcome = await Promise.race([exited.then(() => 'exited' as const), timeout]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    process.kill(child.pid, 'SIGKILL');
    await exited;
  }
}

/** Sends one GET on a new connection and resolves with the status, or with undefined when the connection fails. */
function probeStatus(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const request = http.get(url, { agent: false, timeout: PROBE_TIMEOUT_MS }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode));
      response.on('error', () => resolve(undefined));
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(undefined));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface ProcessMemory {
  /** Resident set size (VmRSS), KiB. */
  rssKiB: number;
  /** Peak resident set size so far (VmHWM), KiB. */
  peakRssKiB: number;
}

/** Reads VmRSS and VmHWM of a process from /proc/<pid>/status (Linux only). */
export function readProcessMemory(pid: number): ProcessMemory {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (!match) {
      throw new Error(`Missing ${name} in /proc/${pid}/status`);
    }
    return Number(match[1]);
  };
  return { rssKiB: field('VmRSS'), peakRssKiB: field('VmHWM') };
}

let clockTicksPerSecond: number | undefined;

/** Reads the user plus system CPU seconds a process has used, from /proc/<pid>/stat (Linux only). */
export function readProcessCpuSeconds(pid: number): number {
  clockTicksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name in brackets may contain spaces, so fields are counted after its closing bracket.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const userTicks = Number(fields[11]);
  const systemTicks = Number(fields[12]);
  return (userTicks + systemTicks) / clockTicksPerSecond;
}
