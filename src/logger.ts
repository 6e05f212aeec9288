/**
 * JSON logs through pino. Redaction is a second guard: no code path is meant to
 * pass secrets, tokens or request bodies to the logger at all.
 */
import pino, { Logger } from 'pino';

export type { Logger };

const REDACTED_PATHS = [
  'sharedSecret',
  '*.sharedSecret',
  'token',
  '*.token',
  'jwt',
  '*.jwt',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'docker-hub-for-bitbucket' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
