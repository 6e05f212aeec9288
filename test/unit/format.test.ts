import { formatBytes, formatCount, formatExactCount, formatRelativeTime, parseTimestamp, relativeTimeChangesAt } from '../../src/core/format';

describe('formatCount', () => {
  test.each([
    [0, '0'],
    [999, '999'],
    [1000, '1k'],
    [1100, '1.1k'],
    [72673, '72.7k'],
    [999499, '999k'],
    [999999, '1M'],
    [1000000, '1M'],
    [2147483647, '2.1B'],
    [10234567890, '10.2B'],
    [12916987208, '12.9B'],
    [999_400_000_000_000_000, '999Q'],
    [1e21, '>999Q'],
    [1e300, '>999Q'],
  ])('%d shows as %s', (value, expected) => {
    expect(formatCount(value)).toBe(expected);
  });

  describe('beyond safe integers', () => {
    // 9007199254740993 is 2^53 + 1, which a double cannot hold exactly.
    const text = formatCount(9007199254740993);

    test('has no exponent', () => {
      expect(text).not.toContain('e+');
    });

    test('is not negative', () => {
      expect(text.startsWith('-')).toBe(false);
    });

    test('is not the unknown dash', () => {
      expect(text).not.toBe('—');
    });

    test('starts with a digit', () => {
      expect(text).toMatch(/^\d/);
    });
  });

  test.each([
    ['NaN', NaN],
    ['negative', -1],
    ['infinity', Infinity],
  ])('%s shows a dash', (_label, value) => {
    expect(formatCount(value)).toBe('—');
  });
});

describe('formatExactCount', () => {
  test.each([
    [0, '0'],
    [999, '999'],
    [72673, '72,673'],
    [2147483647, '2,147,483,647'],
    [12916987208, '12,916,987,208'],
    [1e21, 'at least 1,000,000,000,000,000,000,000'],
    [1e300, 'at least 1,000,000,000,000,000,000,000'],
  ])('%d shows as %s', (value, expected) => {
    expect(formatExactCount(value)).toBe(expected);
  });

  // JSON.parse('-0') yields negative zero, which passes a non-negative integer check.
  test('negative zero has no sign', () => {
    expect(formatExactCount(-0)).toBe('0');
  });
});

describe('formatBytes', () => {
  test.each([
    [0, '0 B'],
    [999, '999 B'],
    [1000, '1.0 kB'],
    [1500, '1.5 kB'],
    [52300000, '52.3 MB'],
    [2500000000, '2.5 GB'],
  ])('%d shows as %s', (value, expected) => {
    expect(formatBytes(value)).toBe(expected);
  });

  // formatBytes documents this example.
  test('documented example keeps a decimal', () => {
    expect(formatBytes(932075519)).toBe('932.1 MB');
  });

  test('rounding up moves to next unit', () => {
    expect(formatBytes(999999)).toBe('1.0 MB');
  });

  test.each([
    ['NaN', NaN],
    ['negative', -1],
  ])('%s shows a dash', (_label, value) => {
    expect(formatBytes(value)).toBe('—');
  });
});

describe('parseTimestamp', () => {
  test.each([
    ['no fraction', '2024-01-01T00:00:00Z', 1704067200000],
    ['3 fractional digits', '2024-01-01T00:00:00.123Z', 1704067200123],
    ['6 fractional digits', '2024-01-01T00:00:00.123456Z', 1704067200123],
    ['9 fractional digits', '2024-01-01T00:00:00.123456789Z', 1704067200123],
  ])('%s is parsed', (_label, value, expected) => {
    expect(parseTimestamp(value)).toBe(expected);
  });

  test.each([
    ['null', null],
    ['undefined', undefined],
    ['empty string', ''],
    ['garbage', 'garbage'],
  ])('%s gives undefined', (_label, value) => {
    expect(parseTimestamp(value)).toBeUndefined();
  });
});

describe('formatRelativeTime', () => {
  const now = Date.parse('2024-06-15T12:00:00Z');
  const SECOND = 1000;
  const MINUTE = 60 * SECOND;
  const HOUR = 60 * MINUTE;
  const DAY = 24 * HOUR;

  test.each([
    ['same instant', 0, 'just now'],
    ['5 seconds before', 5 * SECOND, 'just now'],
    ['45 seconds before', 45 * SECOND, '45 seconds ago'],
    ['1 minute before', MINUTE, '1 minute ago'],
    ['5 minutes before', 5 * MINUTE, '5 minutes ago'],
    ['1 hour before', HOUR, '1 hour ago'],
    ['3 hours before', 3 * HOUR, '3 hours ago'],
    ['1 day before', DAY, '1 day ago'],
    ['2 days before', 2 * DAY, '2 days ago'],
    ['45 days before', 45 * DAY, '1 month ago'],
    ['90 days before', 90 * DAY, '3 months ago'],
    ['400 days before', 400 * DAY, '1 year ago'],
    ['3 years before', 3 * 365 * DAY, '3 years ago'],
    ['5 minutes after', -5 * MINUTE, 'in 5 minutes'],
    ['2 hours after', -2 * HOUR, 'in 2 hours'],
    ['3 days after', -3 * DAY, 'in 3 days'],
  ])('%s reads %s', (_label, offsetMs, expected) => {
    expect(formatRelativeTime(now - offsetMs, now)).toBe(expected);
  });
});

describe('relativeTimeChangesAt', () => {
  const now = Date.parse('2024-06-15T12:00:00Z');
  const SECOND = 1000;
  const MINUTE = 60 * SECOND;
  const HOUR = 60 * MINUTE;
  const DAY = 24 * HOUR;

  /** Checks that the text stays the same from `at` up to the returned instant, at 100 evenly spaced points and at its last millisecond. */
  function expectConstantUntilChange(epochMs: number, at: number): number {
    const changesAt = relativeTimeChangesAt(epochMs, at);
    const text = formatRelativeTime(epochMs, at);
    expect(changesAt).toBeGreaterThan(at);
    const span = Math.min(changesAt - at, 400 * 365 * DAY);
    for (let step = 0; step < 100; step += 1) {
      const sampled = at + Math.floor((span * step) / 100);
      expect(formatRelativeTime(epochMs, sampled)).toBe(text);
    }
    if (Number.isFinite(changesAt)) {
      expect(formatRelativeTime(epochMs, changesAt - 1)).toBe(text);
    }
    return changesAt;
  }

  test.each([
    ['same instant', 0, 9.5 * SECOND],
    ['9 seconds before', 9 * SECOND, 0.5 * SECOND],
    ['10 seconds before', 10 * SECOND, 0.5 * SECOND],
    ['45.2 seconds before', 45.2 * SECOND, 0.3 * SECOND],
    ['59.6 seconds before, read as 1 minute', 59.6 * SECOND, MINUTE - 0.1 * SECOND],
    ['5 minutes before', 5 * MINUTE, MINUTE - 0.5 * SECOND],
    ['59 minutes 59 seconds before', HOUR - SECOND, 0.5 * SECOND],
    ['3 hours 10 minutes before', 3 * HOUR + 10 * MINUTE, 50 * MINUTE - 0.5 * SECOND],
    ['2 days before', 2 * DAY, DAY - 0.5 * SECOND],
    ['350 days before', 350 * DAY, 10 * DAY - 0.5 * SECOND],
    ['364 days before, before the year limit', 364 * DAY, DAY - 0.5 * SECOND],
    ['3 years before', 3 * 365 * DAY, 365 * DAY - 0.5 * SECOND],
  ])('%s changes after the expected time', (_label, ageMs, expectedWaitMs) => {
    const changesAt = expectConstantUntilChange(now - ageMs, now);
    expect(changesAt - now).toBe(expectedWaitMs);
    expect(formatRelativeTime(now - ageMs, changesAt)).not.toBe(formatRelativeTime(now - ageMs, now));
  });

  test.each([
    ['5 minutes after', -5 * MINUTE],
    ['1 second after', -SECOND],
    ['2 days after', -2 * DAY],
  ])('%s keeps its text until the next second at least', (_label, ageMs) => {
    expectConstantUntilChange(now - ageMs, now);
  });

  test('text is constant until the change for many times', () => {
    // A fixed linear congruential sequence, so that a failure can be reproduced.
    let seed = 12345;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let index = 0; index < 200; index += 1) {
      const ageMs = Math.round((next() * 2 - 0.2) * 10 ** (next() * 11));
      const changesAt = expectConstantUntilChange(now - ageMs, now);
      if (ageMs >= 0) {
        expect(formatRelativeTime(now - ageMs, changesAt)).not.toBe(formatRelativeTime(now - ageMs, now));
      }
    }
  });
});
