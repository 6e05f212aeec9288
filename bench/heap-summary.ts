/**
 * Summarises a V8 heap snapshot (.heapsnapshot): the live heap size and the
 * constructors and object types with the largest total self size. V8 runs a full
 * garbage collection before it writes a snapshot, so every node in it is live.
 *
 * Usage: node dist/bench/heap-summary.js FILE [TOP]
 */
import fs from 'node:fs';
import { round, runMain } from './lib/report';

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export interface HeapGroup {
  type: string;
  name: string;
  count: number;
  selfMiB: number;
}

export interface HeapSummary {
  file: string;
  liveMiB: number;
  nodes: number;
  groups: HeapGroup[];
}

const BYTES_PER_MIB = 1024 * 1024;
/** Longer names, such as source text held as a string, are cut in the summary. */
const MAX_NAME_LENGTH = 80;

export function summarizeHeapSnapshot(file: string, top = 20): HeapSummary {
  const heap = JSON.parse(fs.readFileSync(file, 'utf8')) as HeapSnapshot;
  const fields = heap.snapshot.meta.node_fields;
  const types = heap.snapshot.meta.node_types[0];
  const fieldCount = fields.length;
  const typeField = fields.indexOf('type');
  const nameField = fields.indexOf('name');
  const sizeField = fields.indexOf('self_size');

  const groups = new Map<string, HeapGroup>();
  let totalBytes = 0;
  for (let offset = 0; offset < heap.nodes.length; offset += fieldCount) {
    const type = types[heap.nodes[offset + typeField]];
    const size = heap.nodes[offset + sizeField];
    totalBytes += size;
    // Strings and code are grouped by type only, because their "name" is their content.
    const groupedByName = type === 'object' || type === 'closure' || type === 'native' || type === 'hidden';
    const name = groupedByName ? heap.strings[heap.nodes[offset + nameField]].slice(0, MAX_NAME_LENGTH) : `(${type})`;
    const key = `${type}\u0000${name}`;
    const group = groups.get(key) ?? { type, name, count: 0, selfMiB: 0 };
    group.count += 1;
    group.selfMiB += size;
    groups.set(key, group);
  }
  const sorted = [...groups.values()]
    .sort((a, b) => b.selfMiB - a.selfMiB)
    .slice(0, top)
    .map((group) => ({ ...group, selfMiB: round(group.selfMiB / BYTES_PER_MIB, 2) }));
  return { file, liveMiB: round(totalBytes / BYTES_PER_MIB), nodes: heap.nodes.length / fieldCount, groups: sorted };
}

export function printHeapSummary(summary: HeapSummary): void {
  console.log(`Heap snapshot ${summary.file}: ${summary.liveMiB} MiB live in ${summary.nodes} objects`);
  for (const group of summary.groups) {
    console.log(`  ${group.selfMiB.toFixed(2).padStart(8)} MiB  ${String(group.count).padStart(8)}  ${group.type.padEnd(8)} ${group.name}`);
  }
}

if (require.main === module) {
  runMain(async () => {
    const [file, top] = process.argv.slice(2);
    if (!file) {
      throw new Error('Missing heap snapshot file: usage is node dist/bench/heap-summary.js FILE [TOP]');
    }
    printHeapSummary(summarizeHeapSnapshot(file, top === undefined ? 20 : Number(top)));
  });
}
