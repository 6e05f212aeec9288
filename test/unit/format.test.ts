import { formatBytes, formatCount, formatExactCount, formatRelativeTime, parseTimestamp } from '../../src/core/format';

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
