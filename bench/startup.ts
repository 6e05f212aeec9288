/**
 * Benchmark 5: start-up to the first served request. Spawns `node
 * dist/src/server.js` with a new sqlite file and polls /healthz every 10 ms on a
 * new connection. The figure is the time from spawn() to the first 200. The
 * server listens only once the tenant store is ready, so this includes opening
 * sqlite and creating its table.
 *
 * Usage: node dist/bench/startup.js [--profile]
 * With --profile one more start runs under `node --cpu-prof`. It is not part of
 * the figures, and its profile summary is printed and stored.
 */
import fs from 'node:fs';
import path from 'node:path';
import { sleep, startAddonProcess } from './lib/addon-process';
import { hasFlag, machineInfo, median, resultName, RESULTS_DIR, round, runMain, TargetCheck, verdict, writeResult } from './lib/report';
import { printProfileSummary, ProfileSummary, summarizeProfile } from './profile-summary';

const RUNS = 5;
const POLL_INTERVAL_MS = 10;
const TARGET_MS = 2000;
const PAUSE_BETWEEN_RUNS_MS = 500;

async function main(): Promise<void> {
  const machine = machineInfo();
  const startupMs: number[] = [];
  for (let run = 1; run <= RUNS; run += 1) {
    const addon = await startAddonProcess({ pollIntervalMs: POLL_INTERVAL_MS });
    startupMs.push(round(addon.startupMs));
    console.log(`run ${run}: first 200 from /healthz ${round(addon.startupMs)} ms after spawn`);
    await addon.stop();
    await sleep(PAUSE_BETWEEN_RUNS_MS);
  }
  const medianMs = median(startupMs);
  const maxMs = Math.max(...startupMs);
  const check: TargetCheck = { target: `every run under ${TARGET_MS} ms`, met: maxMs < TARGET_MS };
  console.log(`median ${medianMs} ms, max ${maxMs} ms: ${verdict(check)}`);
  const profile = hasFlag('profile') ? await profileStartup() : undefined;
  const file = writeResult('startup', {
    machine,
    settings: { runs: RUNS, pollIntervalMs: POLL_INTERVAL_MS, addonEnv: { NODE_ENV: 'test', LOG_LEVEL: 'warn', DATABASE_URL: 'new sqlite file per run' } },
    startupMs,
    medianMs,
    maxMs,
    check,
    profile,
  });
  console.log(`Wrote ${file}`);
}

/** Starts the add-on once under --cpu-prof, stops it as soon as it serves, and summarises the profile. */
async function profileStartup(): Promise<ProfileSummary> {
  const directory = path.join(RESULTS_DIR, 'profiles');
  const name = `${resultName('startup-addon')}.cpuprofile`;
  fs.mkdirSync(directory, { recursive: true });
  fs.rmSync(path.join(directory, name), { force: true });
  const addon = await startAddonProcess({
    pollIntervalMs: POLL_INTERVAL_MS,
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${directory}`, `--cpu-prof-name=${name}`],
  });
  console.log(`\nprofiled run (not in the figures): first 200 after ${round(addon.startupMs)} ms`);
  await addon.stop();
  const summary = summarizeProfile(path.join(directory, name), 20);
  printProfileSummary(summary);
  return summary;
}

runMain(main);
