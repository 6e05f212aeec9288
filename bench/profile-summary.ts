/**
 * Summarises a V8 CPU profile (.cpuprofile, as written by `node --cpu-prof`):
 * the functions and packages with the most self time, and the add-on's own
 * functions with the most inclusive time.
 *
 * Usage: node dist/bench/profile-summary.js FILE [TOP]
 */
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT, round, runMain } from './lib/report';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  /** Microseconds between consecutive samples. */
  timeDeltas: number[];
}

export interface TimeShare {
  name: string;
  ms: number;
  /** Share of the busy time (all samples except "(idle)"), in percent. */
  percent: number;
}

export interface ProfileSummary {
  file: string;
  busyMs: number;
  idleMs: number;
  topSelf: TimeShare[];
  selfByPackage: TimeShare[];
  /** Functions compiled from src/ with the most inclusive time (their own plus their callees'). */
  topAddonInclusive: TimeShare[];
  /**
   * For the functions with the most self time: the nearest caller on the stack that
   * belongs to a package or to the add-on, which shows who reached a Node built-in.
   */
  selfCallers: Array<TimeShare & { callers: TimeShare[] }>;
  /**
   * Time by the outermost npm package on the stack: the dependency that the
   * add-on's own code called into, with everything that package called. At
   * start-up this is the cost of requiring each direct dependency.
   */
  byOutermostPackage: TimeShare[];
}

/** Functions whose callers are listed, and callers listed per function. */
const CALLER_FUNCTIONS = 8;
const CALLERS_PER_FUNCTION = 3;

/** Special nodes V8 adds for time spent outside JavaScript functions. */
const SPECIAL_NODES = new Set(['(program)', '(garbage collector)', '(idle)', '(root)']);

export function summarizeProfile(file: string, top = 20): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) {
      parents.set(child, node.id);
    }
  }

  const selfByFunction = new Map<string, number>();
  const selfByPackage = new Map<string, number>();
  const inclusiveByAddonFunction = new Map<string, number>();
  const callersByFunction = new Map<string, Map<string, number>>();
  const byOutermostPackage = new Map<string, number>();
  let busyUs = 0;
  let idleUs = 0;

  profile.samples.forEach((nodeId, index) => {
    const deltaUs = profile.timeDeltas[index] ?? 0;
    const node = nodes.get(nodeId)!;
    if (node.callFrame.functionName === '(idle)') {
      idleUs += deltaUs;
      return;
    }
    busyUs += deltaUs;
    const label = functionLabel(node.callFrame);
    add(selfByFunction, label, deltaUs);
    add(selfByPackage, packageLabel(node.callFrame), deltaUs);
    const callers = callersByFunction.get(label) ?? new Map<string, number>();
    callersByFunction.set(label, callers);
    add(callers, nearestOwnCaller(node.id, nodes, parents), deltaUs);

    // A recursive function counts once per sample, however often it is on the stack.
    const seen = new Set<string>();
    let outermostPackage = '(no npm package on the stack)';
    for (let current: number | undefined = nodeId; current !== undefined; current = parents.get(current)) {
      const frame = nodes.get(current)!.callFrame;
      const packageName = npmPackage(frame.url);
      if (packageName) {
        outermostPackage = packageName;
      }
      if (isAddonSource(frame.url)) {
        const label = functionLabel(frame);
        if (!seen.has(label)) {
          seen.add(label);
          add(inclusiveByAddonFunction, label, deltaUs);
        }
      }
    }
    add(byOutermostPackage, outermostPackage, deltaUs);
  });

  const shares = (map: Map<string, number>, limit = top) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, us]) => ({ name, ms: round(us / 1000), percent: round((100 * us) / busyUs) }));
  const topSelf = shares(selfByFunction);

  return {
    file,
    busyMs: round(busyUs / 1000),
    idleMs: round(idleUs / 1000),
    topSelf,
    selfByPackage: shares(selfByPackage),
    topAddonInclusive: shares(inclusiveByAddonFunction),
    selfCallers: topSelf.slice(0, CALLER_FUNCTIONS).map((share) => ({
      ...share,
      callers: shares(callersByFunction.get(share.name) ?? new Map(), CALLERS_PER_FUNCTION),
    })),
    byOutermostPackage: shares(byOutermostPackage),
  };
}

/** Returns the label of the first frame above `nodeId` that is not a Node internal or a native frame. */
function nearestOwnCaller(nodeId: number, nodes: Map<number, ProfileNode>, parents: Map<number, number>): string {
  for (let current = parents.get(nodeId); current !== undefined; current = parents.get(current)) {
    const frame = nodes.get(current)!.callFrame;
    if (frame.url !== '' && !frame.url.startsWith('node:')) {
      return functionLabel(frame);
    }
  }
  return '(no caller outside Node internals)';
}

function add(map: Map<string, number>, key: string, value: number): void {
  map.set(key, (map.get(key) ?? 0) + value);
}

function shortUrl(url: string): string {
  const withoutScheme = url.replace(/^file:\/\//, '');
  const nodeModules = withoutScheme.lastIndexOf('/node_modules/');
  if (nodeModules >= 0) {
    return withoutScheme.slice(nodeModules + '/node_modules/'.length);
  }
  return withoutScheme.startsWith(PROJECT_ROOT) ? path.relative(PROJECT_ROOT, withoutScheme) : withoutScheme;
}

function functionLabel(frame: CallFrame): string {
  if (SPECIAL_NODES.has(frame.functionName) || frame.url === '') {
    return frame.functionName || '(native)';
  }
  return `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
}

/** Returns the npm package a script belongs to, or undefined outside node_modules. */
function npmPackage(url: string): string | undefined {
  return /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];
}

/** Groups a frame by npm package, by add-on source file, or as Node internals and V8. */
function packageLabel(frame: CallFrame): string {
  if (SPECIAL_NODES.has(frame.functionName)) {
    return frame.functionName;
  }
  const url = frame.url.replace(/^file:\/\//, '');
  const packageName = npmPackage(url);
  if (packageName) {
    return packageName;
  }
  if (url.startsWith('node:')) {
    return 'node internals';
  }
  if (url === '') {
    return 'native (V8 builtins, C++)';
  }
  return shortUrl(url);
}

function isAddonSource(url: string): boolean {
  return url.includes('/dist/src/') && !url.includes('/node_modules/');
}

export function printProfileSummary(summary: ProfileSummary): void {
  const print = (title: string, rows: TimeShare[]) => {
    console.log(`\n${title}`);
    for (const row of rows) {
      console.log(`  ${row.percent.toFixed(1).padStart(5)}%  ${row.ms.toFixed(0).padStart(7)} ms  ${row.name}`);
    }
  };
  console.log(`Profile ${summary.file}: ${summary.busyMs} ms busy, ${summary.idleMs} ms idle; percentages are of busy time.`);
  print('Top self time by function:', summary.topSelf);
  print('Self time by package:', summary.selfByPackage);
  print('Inclusive time of add-on functions (src/):', summary.topAddonInclusive);
  print('Time by the outermost npm package on the stack:', summary.byOutermostPackage);
  console.log('\nNearest package or add-on caller of the top self-time functions:');
  for (const entry of summary.selfCallers) {
    console.log(`  ${entry.name}`);
    for (const caller of entry.callers) {
      console.log(`    ${caller.percent.toFixed(1).padStart(5)}%  <- ${caller.name}`);
    }
  }
}

if (require.main === module) {
  runMain(async () => {
    const [file, top] = process.argv.slice(2);
    if (!file) {
      throw new Error('Missing profile file: usage is node dist/bench/profile-summary.js FILE [TOP]');
    }
    printProfileSummary(summarizeProfile(file, top === undefined ? 20 : Number(top)));
  });
}
