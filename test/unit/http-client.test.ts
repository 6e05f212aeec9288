import { Headers } from 'node-fetch';
import { z } from 'zod';
import { UpstreamError } from '../../src/core/errors';
import { errorForStatus, parseJsonBody, retryAtFromHeaders, UpstreamResponse } from '../../src/core/http-client';

const NOW = Date.parse('2024-06-15T12:00:00Z');
const SECOND = 1000;
const HOUR = 60 * 60 * SECOND;

function response(status: number, headers: Record<string, string> = {}, body = ''): UpstreamResponse {
  return { status, headers: new Headers(headers), body: Buffer.from(body), tooLarge: false };
}

function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

describe('retryAtFromHeaders', () => {
  test('X-Retry-After is a Unix time', () => {
    const headers = new Headers({ 'X-Retry-After': String(NOW / SECOND + 120) });

    expect(retryAtFromHeaders(headers, NOW)).toBe(NOW + 120 * SECOND);
  });

  test('Retry-After seconds are added', () => {
    const headers = new Headers({ 'Retry-After': '60' });

    expect(retryAtFromHeaders(headers, NOW)).toBe(NOW + 60 * SECOND);
  });

  test('Retry-After HTTP date is read', () => {
    const headers = new Headers({ 'Retry-After': 'Sat, 15 Jun 2024 12:02:00 GMT' });

    expect(retryAtFromHeaders(headers, NOW)).toBe(NOW + 120 * SECOND);
  });

  test('no header waits 60 seconds', () => {
    expect(retryAtFromHeaders(new Headers(), NOW)).toBe(NOW + 60 * SECOND);
  });

  test('far-future Unix time is capped', () => {
    const headers = new Headers({ 'X-Retry-After': '99999999999' });

    expect(retryAtFromHeaders(headers, NOW)).toBe(NOW + HOUR);
  });

  test('huge Retry-After is capped', () => {
    const headers = new Headers({ 'Retry-After': '31536000' });

    expect(retryAtFromHeaders(headers, NOW)).toBe(NOW + HOUR);
  });
});

describe('errorForStatus', () => {
  test.each([
    [404, 'not-found'],
    [401, 'unauthorized'],
    [403, 'unauthorized'],
    [500, 'unavailable'],
    [504, 'unavailable'],
    [418, 'invalid-response'],
  ])('HTTP %d is %s', (status, kind) => {
    const error = errorForStatus('docker-hub', response(status), NOW);

    expect(error.kind).toBe(kind);
    expect(error.status).toBe(status);
  });

  test('plain-text 429 is rate-limited', () => {
    const headers = { 'Content-Type': 'text/plain', 'Retry-After': '60' };
    const throttled = response(429, headers, 'Too Many Requests (HAP429).\n');
    const error = errorForStatus('docker-hub', throttled, NOW);

    expect(error.kind).toBe('rate-limited');
    expect(error.retryAt).toBe(NOW + 60 * SECOND);
  });
});

describe('parseJsonBody', () => {
  const schema = z.object({ name: z.string() });

  test('valid JSON is parsed', () => {
    const body = response(200, { 'Content-Type': 'application/json' }, '{"name":"app","extra":1}');

    expect(parseJsonBody('docker-hub', body, schema)).toEqual({ name: 'app' });
  });

  test.each([
    ['plain-text body', response(200, { 'Content-Type': 'text/plain' }, 'Too Many Requests (HAP429).\n')],
    ['malformed JSON', response(200, { 'Content-Type': 'application/json' }, '{"name":')],
    ['wrong shape', response(200, { 'Content-Type': 'application/json' }, '{}')],
    ['oversized body', { ...response(200, { 'Content-Type': 'application/json' }, '{"na'), tooLarge: true }],
  ])('%s is an invalid response', (_label, upstreamResponse) => {
    const error = thrownBy(() => parseJsonBody('docker-hub', upstreamResponse, schema));

    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as UpstreamError).kind).toBe('invalid-response');
  });
});
