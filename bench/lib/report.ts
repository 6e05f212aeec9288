/**
 * Machine details and the JSON result files that every benchmark writes to
 * bench/results/<name>.json.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findProjectRoot } from '../../src/paths';

export const PROJECT_ROOT = findProjectRoot();
export const RESULTS_DIR = path.join(PROJECT_ROOT, 'bench', 'results');
/**
 * Project directory whose compiled add-on runs: this repository, or the one named
 * by BENCH_ADDON_ROOT, which must contain its own dist/, views/, public/ and
 * package.json. Comparing two builds this way keeps the harness unchanged.
 */
export const ADDON_ROOT = path.resolve(process.env.BENCH_ADDON_ROOT || PROJECT_ROOT);
/**
 * Node options for every add-on process, from BENCH_NODE_ARGS (space-separated). The default is
 * what `npm start` and the container image use, so that the figures describe production.
 */
export const PRODUCTION_NODE_ARGS = '--max-old-space-size=256';
export const ADDON_NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? PRODUCTION_NODE_ARGS).split(' ').filter((arg) => arg !== '');

export interface MachineInfo {
  /** ISO 8601 time when the benchmark started. */
  date: string;
  node: string;
  platform: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
  };
}

/**
 * Returns the result name, with the suffix from BENCH_RESULT_SUFFIX when set, so
 * that a run against another build (BENCH_ADDON_ROOT) does not overwrite the
 * results of this one.
 */
export function resultName(name: string): string {
  const suffix = process.env.BENCH_RESULT_SUFFIX;
  return suffix ? `${name}-${suffix}` : name;
}

/**
 * Commit of the add-on that ran and whether its src/ had uncommitted changes. For a
 * copy made by bench/candidates/build.sh it is that script's candidate.json, which
 * also names the patch.
 */
function addonRevision(): { commit: string; srcModified: boolean; patch?: string } | undefined {
  const candidateFile = path.join(ADDON_ROOT, 'candidate.json');
  if (fs.existsSync(candidateFile)) {
    return JSON.parse(fs.readFileSync(candidateFile, 'utf8'));
  }
  try {
    const git = (...args: string[]) => execFileSync('git', ['-C', ADDON_ROOT, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return { commit: git('rev-parse', 'HEAD'), srcModified: git('status', '--porcelain', '--', 'src') !== '' };
  } catch {
    return undefined;
  }
}

/** Read when the benchmark starts, so that commits made while it runs do not change it. */
const ADDON_REVISION = addonRevision();

/** Writes `result` as bench/results/<name>.json, with resultName's suffix, and returns the file path. */
export function writeResult(name: string, result: object): string {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${resultName(name)}.json`);
  fs.writeFileSync(file, `${JSON.stringify({ addonRoot: ADDON_ROOT, addonRevision: ADDON_REVISION, addonNodeArgs: ADDON_NODE_ARGS, ...result }, null, 2)}\n`);
  return file;
}

/** Verdict of a measured value against a target, as printed and stored. */
export interface TargetCheck {
  target: string;
  met: boolean;
}

export function verdict(check: TargetCheck): string {
  return `${check.met ? 'MET' : 'MISSED'} (target: ${check.target})`;
}

export function median(values: number[]): number {
  if (values.length === 0) {
    return Number.NaN;
  }
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Returns true when `--name` is among the command-line arguments. */
export function hasFlag(name: string): boolean {
  return process.argv.slice(2).includes(`--${name}`);
}

/**
 * Returns the positive integer given as `--name N` on the command line, or `fallback`.
 *
 * @throws Error when the value is not a positive integer.
 */
export function integerOption(name: string, fallback: number): number {
  const args = process.argv.slice(2);
  const index = args.indexOf(`--${name}`);
  if (index === -1) {
    return fallback;
  }
  const text = args[index + 1] ?? '';
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
    throw new Error(`Invalid --${name} "${text}": expected a positive integer`);
  }
  return value;
}

/** Runs a benchmark's main function and sets a failing exit code when it throws. */
export function runMain(main: () => Promise<void>): void {
  main().catch((error: Error) => {
    process.stderr.write(`Benchmark failed: ${error.stack ?? error.message}\n`);
    process.exitCode = 1;
  });
}
