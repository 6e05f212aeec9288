/** Pure formatting for the panel: compact counts, sizes and relative times. */

const COUNT_SUFFIXES = ['', 'k', 'M', 'B', 'T', 'Q'];

/**
 * Formats a count compactly: 999 → "999", 72673 → "72.7k", 12916987208 → "12.9B".
 * One decimal below 100 of a unit, none above; a value that rounds to 1000 moves up a unit.
 */
export function formatCount(value: number): string {
  if (!Number.isFinite(value) || value < 0) {
    return '—';
  }
  if (value < 1000) {
    return String(Math.round(value));
  }
  let unit = Math.min(Math.floor(Math.log10(value) / 3), COUNT_SUFFIXES.length - 1);
  let scaled = value / 1000 ** unit;
  let rounded = roundForDisplay(scaled);
  if (rounded >= 1000 && unit < COUNT_SUFFIXES.length - 1) {
    unit += 1;
    scaled = value / 1000 ** unit;
    rounded = roundForDisplay(scaled);
  }
  if (rounded >= 1000) {
    // Past the largest suffix the digits would turn into exponent notation, such as "1e+282Q".
    return `>999${COUNT_SUFFIXES[unit]}`;
  }
  return `${stripTrailingZero(rounded)}${COUNT_SUFFIXES[unit]}`;
}

function roundForDisplay(scaled: number): number {
  return scaled < 100 ? Math.round(scaled * 10) / 10 : Math.round(scaled);
}

function stripTrailingZero(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

/** Formats an exact count with thousands separators, for the hover title. */
export function formatExactCount(value: number): string {
  if (!Number.isFinite(value) || value < 0) {
    return 'unknown';
  }
  if (value >= MAX_EXACT_COUNT) {
    // The digits of an absurd count would fill the title.
    return `at least ${groupDigits(BigInt(MAX_EXACT_COUNT))}`;
  }
  const text = groupDigits(BigInt(Math.round(value)));
  // Beyond 2^53 a JSON number has already been rounded while parsing.
  return Number.isSafeInteger(Math.round(value)) ? text : `about ${text}`;
}

/** Largest count shown digit by digit; 10^21 is also where JavaScript starts printing numbers with an exponent. */
const MAX_EXACT_COUNT = 1e21;

/** Groups digits by thousands with commas. Plain grouping instead of toLocaleString, which goes through ICU and showed up in panel profiles. */
function groupDigits(value: bigint): string {
  return value.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

const BYTE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

/** Formats a size in decimal units with one decimal, as Docker Hub shows image sizes: 932075519 → "932.1 MB". */
export function formatBytes(value: number): string {
  if (!Number.isFinite(value) || value < 0) {
    return '—';
  }
  if (value < 1000) {
    return `${Math.round(value)} B`;
  }
  let unit = Math.min(Math.floor(Math.log10(value) / 3), BYTE_UNITS.length - 1);
  let rounded = Math.round((value / 1000 ** unit) * 10) / 10;
  if (rounded >= 1000 && unit < BYTE_UNITS.length - 1) {
    unit += 1;
    rounded = Math.round((value / 1000 ** unit) * 10) / 10;
  }
  return `${rounded.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/**
 * Parses the timestamps Docker Hub and Bitbucket send, with 0 to 9 fractional
 * digits. Returns epoch milliseconds, or undefined for a missing or invalid value.
 */
export function parseTimestamp(value: string | null | undefined): number | undefined {
  if (typeof value !== 'string' || value.length > 64) {
    return undefined;
  }
  const known = parsedTimestamps.get(value);
  if (known !== undefined) {
    return known ?? undefined;
  }
  const parsed = parseTimestampText(value);
  remember(parsedTimestamps, value, parsed ?? null);
  return parsed;
}

/**
 * Memoised results of parseTimestamp and formatExactTime. A panel renders the same
 * few cached upstream timestamps over and over, and parsing and formatting them
 * showed up in panel profiles. Each map is cleared when it reaches its bound.
 */
const MEMO_MAX_ENTRIES = 10_000;
const parsedTimestamps = new Map<string, number | null>();
const exactTimes = new Map<number, string>();

function remember<K, V>(memo: Map<K, V>, key: K, value: V): void {
  if (memo.size >= MEMO_MAX_ENTRIES) memo.clear();
  memo.set(key, value);
}

function parseTimestampText(value: string): number | undefined {
  const withMilliseconds = value.replace(/(\.\d{3})\d+/, '$1');
  // A time without a zone would be read in the server's zone; both upstreams mean UTC.
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/i.test(withMilliseconds);
  const normalized = hasZone || !withMilliseconds.includes('T') ? withMilliseconds : `${withMilliseconds}Z`;
  const parsed = Date.parse(normalized);
  return Number.isNaN(parsed) ? undefined : parsed;
}

const RELATIVE_STEPS: Array<[limitSeconds: number, unitSeconds: number, unit: string]> = [
  [60, 1, 'second'],
  [3600, 60, 'minute'],
  [86400, 3600, 'hour'],
  [86400 * 30, 86400, 'day'],
  [86400 * 365, 86400 * 30, 'month'],
  [Infinity, 86400 * 365, 'year'],
];

/** Formats a time relative to `now`: "just now", "5 minutes ago", "in 2 hours". */
export function formatRelativeTime(epochMs: number, now: number): string {
  const deltaSeconds = Math.round((now - epochMs) / 1000);
  const magnitude = Math.abs(deltaSeconds);
  if (magnitude < 10) {
    // "just now" describes the past only; a moment ahead is still "in N seconds".
    if (deltaSeconds >= 0) return 'just now';
    return magnitude <= 1 ? 'in 1 second' : `in ${magnitude} seconds`;
  }
  for (const [limit, unitSeconds, unit] of RELATIVE_STEPS) {
    if (magnitude < limit) {
      const amount = Math.max(1, Math.floor(magnitude / unitSeconds));
      const label = `${amount} ${unit}${amount === 1 ? '' : 's'}`;
      return deltaSeconds >= 0 ? `${label} ago` : `in ${label}`;
    }
  }
  return 'unknown';
}

/**
 * Returns the first instant after `now` at which formatRelativeTime(epochMs, ·)
 * may return another text, so that a text made at `now` can be reused until then.
 * The texts depend only on the rounded difference in seconds, which reaches n at
 * epochMs + (n - 0.5) seconds.
 */
export function relativeTimeChangesAt(epochMs: number, now: number): number {
  const deltaSeconds = Math.round((now - epochMs) / 1000);
  const reachesSeconds = (seconds: number) => epochMs + (seconds - 0.5) * 1000;
  if (deltaSeconds < 0) {
    // A future time counts down through every second, and the next second may change it.
    return reachesSeconds(deltaSeconds + 1);
  }
  if (deltaSeconds < 10) {
    return reachesSeconds(10);
  }
  for (const [limit, unitSeconds] of RELATIVE_STEPS) {
    if (deltaSeconds < limit) {
      return reachesSeconds(Math.min((Math.floor(deltaSeconds / unitSeconds) + 1) * unitSeconds, limit));
    }
  }
  return Infinity;
}

/** Formats an exact time in UTC for the hover title. */
export function formatExactTime(epochMs: number): string {
  const known = exactTimes.get(epochMs);
  if (known !== undefined) return known;
  const text = new Date(epochMs).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  remember(exactTimes, epochMs, text);
  return text;
}
