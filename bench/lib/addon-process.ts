/**
 * Runs the compiled add-on (dist/src/server.js) as a child process, so that its
 * event loop, CPU time and memory are its own and not shared with the load
 * generator or the simulators. `npm run build` must have run first.
 */
import { ChildProcess, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAddonChild } from '../../src/sandbox/addon-process';
import { ADDON_NODE_ARGS, ADDON_ROOT } from './report';

export interface AddonProcessOptions {
  /** Variables added to the child's environment, over the defaults of startAddonChild and a new sqlite file. */
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
 * Spawns the add-on of ADDON_ROOT on a free port with its own sqlite file in a
 * temporary directory and in-memory shared state (no REDIS_URL), and resolves once
 * /healthz responds with 200.
 *
 * @throws Error with the child's output when it exits or does not serve in time.
 */
export async function startAddonProcess(options: AddonProcessOptions = {}): Promise<AddonProcess> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'addon-bench-'));
  const removeDataDir = () => fs.rmSync(dataDir, { recursive: true, force: true });
  try {
    const addon = await startAddonChild({
      root: ADDON_ROOT,
      env: { DATABASE_URL: `sqlite:${path.join(dataDir, 'tenants.sqlite')}`, ...options.env },
      nodeArgs: [...ADDON_NODE_ARGS, ...(options.nodeArgs ?? [])],
      pollIntervalMs: options.pollIntervalMs ?? 10,
      startTimeoutMs: options.startTimeoutMs,
    });
    return {
      url: addon.url,
      pid: addon.pid,
      child: addon.child,
      startupMs: addon.startupMs,
      output: addon.output,
      stop: async () => {
        await addon.stop();
        removeDataDir();
      },
    };
  } catch (error) {
    removeDataDir();
    throw error;
  }
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
