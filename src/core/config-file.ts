/**
 * Reads `.docker-repository.yml`. Anyone with push access writes this file, so the
 * reader treats it as hostile: it gets bytes that are already capped in size, checks
 * the encoding, parses with a restricted schema and lets only a validated image
 * reference out.
 */
import yaml from 'js-yaml';
import { ImageRef, InvalidImageReference, parseImageReference } from './image-ref';

export const CONFIG_FILE_NAME = '.docker-repository.yml';
const REPOSITORY_KEY = 'repository';
const NEAR_MISS_KEYS = new Set(['repo', 'image', 'name', 'docker', 'dockerhub', 'docker_repository', 'repositories']);
const LFS_POINTER_PREFIX = 'version https://git-lfs.github.com/spec/';
const MAX_REPORTED_KEYS = 5;

export interface ConfigNote {
  message: string;
  line?: number;
}

export type ConfigFileResult =
  /** `image` is undefined when the file does not name one, so the default applies. */
  | { kind: 'valid'; image?: ImageRef; notes: ConfigNote[] }
  | { kind: 'invalid'; problem: string; line?: number };

/**
 * Parses the file's raw bytes.
 *
 * An empty file, a file of comments only, and `repository:` without a value all
 * mean "use the default image". Anything the reader cannot take at face value is
 * `invalid` with a message that names the problem and, where known, the line.
 */
export function parseConfigFile(bytes: Uint8Array): ConfigFileResult {
  const decoded = decodeUtf8(bytes);
  if (decoded.kind === 'invalid') {
    return decoded;
  }
  // A byte order mark is legal at the start of any document, including after
  // `---`, but js-yaml keeps one there as part of the first key.
  const text = decoded.text.replace(/^\uFEFF/gm, '');
  if (text.startsWith(LFS_POINTER_PREFIX)) {
    return {
      kind: 'invalid',
      problem: 'the file is a Git LFS pointer; commit it as a regular file instead of through LFS',
    };
  }

  let documents: unknown[];
  try {
    documents = yaml.loadAll(text, undefined, { schema: yaml.CORE_SCHEMA });
  } catch (error) {
    return describeParseError(error, text);
  }
  if (documents.length > 1) {
    return {
      kind: 'invalid',
      problem: `the file has ${documents.length} YAML documents separated by "---"; keep one`,
      line: lineOfSecondDocument(text),
    };
  }
  return interpretDocument(documents[0], text);
}

function decodeUtf8(bytes: Uint8Array): { kind: 'text'; text: string } | { kind: 'invalid'; problem: string } {
  const startsWith = (...prefix: number[]) => prefix.every((byte, index) => bytes[index] === byte);
  if (startsWith(0xff, 0xfe) || startsWith(0xfe, 0xff)) {
    return { kind: 'invalid', problem: 'the file is UTF-16 encoded; save it as UTF-8' };
  }
  try {
    return { kind: 'text', text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    return { kind: 'invalid', problem: 'the file is not valid UTF-8 text; save it as UTF-8' };
  }
}

function describeParseError(error: unknown, text: string): ConfigFileResult {
  if (error instanceof yaml.YAMLException) {
    // At the end of the input js-yaml reports the line after the last one; name the last line with text instead.
    const line = error.mark ? Math.min(error.mark.line + 1, lastLineWithText(text)) : undefined;
    return { kind: 'invalid', problem: `it is not valid YAML: ${error.reason}`, line };
  }
  // Deeply nested input can exhaust the parser's stack; that is still a bad file, not a crash.
  if (error instanceof RangeError) {
    return { kind: 'invalid', problem: 'it is not valid YAML: it is nested too deeply' };
  }
  throw error;
}

function interpretDocument(document: unknown, text: string): ConfigFileResult {
  if (document === undefined || document === null) {
    return { kind: 'valid', notes: [] };
  }
  if (typeof document !== 'object' || Array.isArray(document)) {
    return {
      kind: 'invalid',
      problem: `it must be a mapping such as "repository: namespace/name", but it is ${describeType(document)}`,
      line: 1,
    };
  }

  const mapping = document as Record<string, unknown>;
  const notes = unknownKeyNotes(Object.keys(mapping), text);
  if (!Object.prototype.hasOwnProperty.call(mapping, REPOSITORY_KEY)) {
    return { kind: 'valid', notes };
  }

  const line = lineOfKey(text, REPOSITORY_KEY);
  const value = mapping[REPOSITORY_KEY];
  if (value === null || (typeof value === 'string' && value.trim() === '')) {
    return { kind: 'valid', notes };
  }
  if (typeof value !== 'string') {
    return {
      kind: 'invalid',
      problem: `"repository" must be text such as namespace/name, but it is ${describeType(value)}`,
      line,
    };
  }

  try {
    const image = parseImageReference(value);
    if (value !== value.toLowerCase()) {
      notes.push({ message: 'Docker Hub names are lower case, so the value was read in lower case', line });
    }
    return { kind: 'valid', image, notes };
  } catch (error) {
    if (error instanceof InvalidImageReference) {
      return { kind: 'invalid', problem: error.message, line };
    }
    throw error;
  }
}

function unknownKeyNotes(keys: string[], text: string): ConfigNote[] {
  const unknown = keys.filter((key) => key !== REPOSITORY_KEY);
  return unknown.slice(0, MAX_REPORTED_KEYS).map((key) => {
    const printable = key.replace(/[^\x20-\x7e]/g, '?').slice(0, 40);
    const nearMiss = key.toLowerCase() === REPOSITORY_KEY || NEAR_MISS_KEYS.has(key.toLowerCase());
    const hint = nearMiss ? '; did you mean "repository"?' : '';
    return { message: `unknown key "${printable}" is ignored${hint}`, line: lineOfKey(text, key) };
  });
}

function lastLineWithText(text: string): number {
  const lines = text.split('\n');
  let last = lines.length;
  while (last > 1 && lines[last - 1].trim() === '') last -= 1;
  return last;
}

function describeType(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'empty';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return 'plain text';
  return `a ${typeof value}`;
}

/** Returns the 1-based line of a top-level key, found in the text because js-yaml reports no positions. */
function lineOfKey(text: string, key: string): number | undefined {
  const lines = text.split('\n');
  const index = lines.findIndex((line) => {
    const trimmed = line.trimStart();
    return trimmed.startsWith(`${key}:`) || trimmed.startsWith(`"${key}":`) || trimmed.startsWith(`'${key}':`);
  });
  return index === -1 ? undefined : index + 1;
}

function lineOfSecondDocument(text: string): number | undefined {
  const lines = text.split('\n');
  const isContent = (line: string) => line.trim() !== '' && !line.trimStart().startsWith('#') && !line.startsWith('...');
  const isMarker = (line: string) => /^---(\s|$)/.test(line);
  let firstStarted = false;
  for (let index = 0; index < lines.length; index += 1) {
    if (isMarker(lines[index]) && firstStarted) {
      // Point at the second document's first line of content, or at its marker when it has none.
      const content = lines.findIndex((line, later) => later > index && isContent(line) && !isMarker(line));
      return (content === -1 ? index : content) + 1;
    }
    if (isMarker(lines[index]) || isContent(lines[index])) {
      firstStarted = true;
    }
  }
  return undefined;
}
