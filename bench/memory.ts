/**
 * Benchmark 4: resident set size of the add-on process after 20,000 and after
 * 40,000 panel renders spread across 1,000 repositories, each naming its own
 * image. The simulators read generated data from a temporary directory.
 *
 * Default cache lifetimes apply, so entries expire and refresh during the run as
 * in production. The 1,000 repositories need about 7,000 of the 10,000 entries
 * that the in-memory cache keeps.
 *
 * Usage: node dist/bench/memory.js [--heap-snapshots] [--repositories N]
 * With --repositories N (default 1,000) the run spreads the renders across N
 * repositories instead, which name up to 1,000 images, and writes
 * memory-N-repositories.json. Above about 1,400 repositories the cache reaches
 * its 10,000 entries and evicts.
 * With --heap-snapshots the add-on runs with --trace-gc and writes a heap
 * snapshot at each point (V8 collects garbage first). The V8 heap sizes of the
 * last collection before the snapshot, the live heap and its largest object
 * groups are printed and stored as memory-diagnosis.json. Writing a snapshot
 * raises RSS, so such a run does not count for the target.
 */
import fs from 'node:fs';
import path from 'node:path';
import { HeapSummary, printHeapSummary, summarizeHeapSnapshot } from './heap-summary';
import { readProcessMemory, sleep } from './lib/addon-process';
import { startBenchEnvironment } from './lib/environment';
import { generateData } from './lib/generated-data';
import { runRequests } from './lib/http';
import { getText } from './lib/http';
import { hasFlag, integerOption, machineInfo, resultName, RESULTS_DIR, round, runMain, TargetCheck, verdict, writeResult } from './lib/report';

const DEFAULT_REPOSITORIES = 1000;
const MAX_SIMULATED_IMAGES = 1000;
const RENDERS_PER_STEP = 20_000;
const CONCURRENCY = 10;
/** Panel tokens must outlive the run, which took under 10 minutes at the slowest rate measured. */
const TOKEN_LIFETIME_SECONDS = 3600;
const MAX_RSS_MIB = 200;
const MAX_GROWTH = 0.1;

interface MemoryPoint {
  label: string;
  renders: number;
  rssMiB: number;
  peakRssMiB: number;
  statuses?: Record<string, number>;
  notReady?: number;
  rendersPerSecond?: number;
  /** V8 heap of the last collection before the snapshot, from --trace-gc: used after it and reserved. */
  v8Heap?: { usedAfterMiB: number; committedMiB: number; line: string };
  heap?: HeapSummary;
}

const KIB_PER_MIB = 1024;
const isReadyPanel = (body: string) => body.includes('data-state="ready"');

async function main(): Promise<void> {
  const machine = machineInfo();
  const heapSnapshots = hasFlag('heap-snapshots');
  const snapshotDir = path.join(RESULTS_DIR, resultName('heap-snapshots'));
  if (heapSnapshots) {
    fs.rmSync(snapshotDir, { recursive: true, force: true });
    fs.mkdirSync(snapshotDir, { recursive: true });
  }
  const repositories = integerOption('repositories', DEFAULT_REPOSITORIES);
  // The Docker Hub simulator reads at most 1,000 image files, so more repositories share images.
  const images = Math.min(repositories, MAX_SIMULATED_IMAGES);
  const data = generateData(repositories, images);
  console.log(`Generated ${repositories} repositories and ${images} images under ${data.root}`);
  const environment = await startBenchEnvironment({
    bitbucketDataDir: data.bitbucketDataDir,
    hubDataDir: data.hubDataDir,
    workspace: data.workspace,
    nodeArgs: heapSnapshots ? ['--trace-gc', '--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshotDir}`] : [],
  });
  try {
    const urls = data.slugs.map((slug) => environment.panelUrl(slug, TOKEN_LIFETIME_SECONDS));
    const sample = (label: string, renders: number): MemoryPoint => {
      const memory = readProcessMemory(environment.addon.pid);
      return { label, renders, rssMiB: round(memory.rssKiB / KIB_PER_MIB), peakRssMiB: round(memory.peakRssKiB / KIB_PER_MIB) };
    };

    await sleep(1000);
    const points: MemoryPoint[] = [sample('after start-up and install', 0)];
    console.log(`${points[0].label}: RSS ${points[0].rssMiB} MiB`);
    for (let step = 1; step <= 2; step += 1) {
      const run = await runRequests(urls, RENDERS_PER_STEP, CONCURRENCY, isReadyPanel, (step - 1) * RENDERS_PER_STEP);
      const point: MemoryPoint = {
        ...sample(`after ${step * RENDERS_PER_STEP} renders`, step * RENDERS_PER_STEP),
        statuses: run.statuses,
        notReady: run.mismatches + RENDERS_PER_STEP - (run.statuses['200'] ?? 0),
        rendersPerSecond: round(RENDERS_PER_STEP / (run.elapsedMs / 1000)),
      };
      points.push(point);
      console.log(
        `${point.label}: RSS ${point.rssMiB} MiB (peak ${point.peakRssMiB} MiB), ${point.rendersPerSecond} renders/s, ` +
          `statuses ${JSON.stringify(point.statuses)}, not ready ${point.notReady}`,
      );
      if (heapSnapshots) {
        point.v8Heap = lastGarbageCollection(environment.addon.output());
        console.log(`V8 heap at the last collection: ${point.v8Heap.usedAfterMiB} MiB used after it, ${point.v8Heap.committedMiB} MiB reserved`);
        point.heap = await takeHeapSnapshot(environment.addon.pid, environment.addon.url, snapshotDir);
        printHeapSummary(point.heap);
      }
    }

    const [, first, second] = points;
    const growth = (second.rssMiB - first.rssMiB) / first.rssMiB;
    const upstreamCalls = environment.bitbucket.requestCount('/') + environment.hub.requestCount('/');
    const failures = (first.notReady ?? 0) + (second.notReady ?? 0);
    const check: TargetCheck = {
      target: `RSS under ${MAX_RSS_MIB} MiB after ${RENDERS_PER_STEP} and after ${2 * RENDERS_PER_STEP} renders, growing less than ${MAX_GROWTH * 100}% between them`,
      met: first.rssMiB < MAX_RSS_MIB && second.rssMiB < MAX_RSS_MIB && growth < MAX_GROWTH && failures === 0,
    };
    console.log(`growth from ${first.renders} to ${second.renders} renders: ${round(growth * 100)}%`);
    console.log(`upstream calls during the run: ${upstreamCalls}`);
    console.log(`memory: ${verdict(check)}`);

    const baseName = heapSnapshots ? 'memory-diagnosis' : 'memory';
    const name = repositories === DEFAULT_REPOSITORIES ? baseName : `${baseName}-${repositories}-repositories`;
    const file = writeResult(name, {
      machine,
      settings: {
        repositories,
        images,
        rendersPerStep: RENDERS_PER_STEP,
        concurrency: CONCURRENCY,
        addonEnv: { NODE_ENV: 'test', LOG_LEVEL: 'warn', cacheLifetimes: 'defaults' },
      },
      points,
      growthPercent: round(growth * 100),
      upstreamCalls,
      check,
    });
    console.log(`Wrote ${file}`);
  } finally {
    await environment.stop();
    data.remove();
    // Snapshots are tens of MiB each and their summaries are stored, so the files go.
    fs.rmSync(snapshotDir, { recursive: true, force: true });
  }
}

/** Parses the last `--trace-gc` line, e.g. "Scavenge 84.2 (141.5) -> 72.1 (141.5) MB". */
function lastGarbageCollection(output: string): NonNullable<MemoryPoint['v8Heap']> {
  const lines = output.split('\n').filter((line) => /\(\d+(\.\d+)?\) -> \d/.test(line));
  const line = lines[lines.length - 1] ?? '';
  const match = /([\d.]+) \(([\d.]+)\) -> ([\d.]+) \(([\d.]+)\) MB/.exec(line);
  if (!match) {
    throw new Error('Missing --trace-gc output from the add-on');
  }
  return { usedAfterMiB: Number(match[3]), committedMiB: Number(match[4]), line: line.trim() };
}

/**
 * Makes the add-on write a heap snapshot (it was started with
 * --heapsnapshot-signal=SIGUSR2) and summarises it. The add-on writes the file on
 * its main thread, so the next /healthz response means the file is complete.
 */
async function takeHeapSnapshot(pid: number, addonUrl: string, directory: string): Promise<HeapSummary> {
  const before = new Set(fs.readdirSync(directory));
  process.kill(pid, 'SIGUSR2');
  await sleep(200);
  await getText(`${addonUrl}/healthz`);
  const written = fs.readdirSync(directory).filter((name) => name.endsWith('.heapsnapshot') && !before.has(name));
  if (written.length !== 1) {
    throw new Error(`Expected one new heap snapshot in ${directory}, found ${written.length}`);
  }
  return summarizeHeapSnapshot(path.join(directory, written[0]), 15);
}

runMain(main);
