/**
 * Settings from environment variables, validated once at start-up. Every variable
 * is described in .env.example.
 */
import path from 'node:path';
import { z } from 'zod';
import type { CacheLifetimes } from './core/panel-service';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** A decimal whole number within bounds; hex, exponents and fractions are rejected rather than reinterpreted. */
const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, `a whole number from ${min} to ${max}`)
    .transform(Number)
    .refine((value) => value >= min && value <= max, `a whole number from ${min} to ${max}`);
const httpUrl = z
  .string()
  .url('an http:// or https:// URL')
  .refine((value) => /^https?:\/\//i.test(value), 'an http:// or https:// URL');

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: integer(1, 65535).default('3000'),
  HOST: z.string().regex(/^[A-Za-z0-9.:[\]-]{1,255}$/, 'a host name or IP address to listen on').optional(),
  AC_LOCAL_BASE_URL: httpUrl.optional(),
  AC_APP_KEY: z
    .string()
    .regex(/^[a-zA-Z0-9._-]{1,64}$/, 'letters, digits, ".", "_" and "-", at most 64 characters')
    .default('docker-hub-for-bitbucket'),
  DATABASE_URL: z
    .string()
    .regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, '"sqlite:" followed by a file path, or a postgres:// URL')
    .optional(),
  REDIS_URL: z.string().regex(/^rediss?:\/\/.+/, 'a redis:// or rediss:// URL').optional(),
  DOCKER_HUB_URL: httpUrl.default('https://hub.docker.com'),
  DOCKER_HUB_WEB_URL: httpUrl.optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  UPSTREAM_TIMEOUT_MS: integer(100, 60_000).default('2500'),
  PANEL_BUDGET_MS: integer(200, 60_000).default('3000'),
  CONFIG_FILE_MAX_BYTES: integer(16, 1024 * 1024).default('65536'),
  JWT_LEEWAY_SECONDS: integer(0, 300).default('60'),
  CACHE_BITBUCKET_SECONDS: integer(0, 86_400).default('60'),
  CACHE_DOCKER_HUB_SECONDS: integer(0, 86_400).default('300'),
  CACHE_NOT_FOUND_SECONDS: integer(0, 86_400).default('60'),
  CACHE_STALE_KEEP_SECONDS: integer(1, 7 * 86_400).default('86400'),
  INSTALL_ALLOW_LOOPBACK: z.enum(['true', 'false']).optional(),
  INSTALL_VERIFY_WITH_BITBUCKET: z.enum(['true', 'false']).optional(),
});

export interface AppConfig {
  environment: 'development' | 'production' | 'test';
  port: number;
  /** Address to listen on; undefined listens on every interface. */
  host?: string;
  /** Public base URL of the add-on, without a trailing slash; goes into the descriptor. */
  localBaseUrl: string;
  /** Path part of localBaseUrl ("" or "/prefix"), which a proxy may or may not strip. */
  basePath: string;
  appKey: string;
  database: { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };
  redisUrl?: string;
  dockerHubUrl: string;
  dockerHubWebUrl: string;
  logLevel: string;
  upstreamTimeoutMs: number;
  panelBudgetMs: number;
  configFileMaxBytes: number;
  jwtLeewaySeconds: number;
  cacheLifetimes: CacheLifetimes;
  /** Accept installs from Bitbucket hosts on loopback (the sandbox); never true in production. */
  allowLoopbackHosts: boolean;
  /** Call Bitbucket with a new tenant's secret before storing the tenant. */
  verifyInstallWithBitbucket: boolean;
}

/**
 * Reads and validates settings.
 *
 * @throws ConfigError naming the first invalid variable and the form it expects.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): AppConfig {
  const present = Object.fromEntries(
    Object.keys(schema.shape).flatMap((key) => (env[key] === undefined || env[key] === '' ? [] : [[key, env[key]]])),
  );
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue.path[0]);
    const value = String(present[variable] ?? '').slice(0, 80);
    throw new ConfigError(`Invalid environment variable ${variable}=${JSON.stringify(value)}: expected ${issue.message}`);
  }
  const values = parsed.data;
  const production = values.NODE_ENV === 'production';

  if (production && !values.AC_LOCAL_BASE_URL) {
    throw new ConfigError('Missing environment variable AC_LOCAL_BASE_URL: expected the public https:// URL of the add-on');
  }
  const localBaseUrl = (values.AC_LOCAL_BASE_URL ?? `http://localhost:${values.PORT}`).replace(/\/+$/, '');
  const parsedBase = new URL(localBaseUrl);
  if (production && parsedBase.protocol !== 'https:') {
    throw new ConfigError('Invalid environment variable AC_LOCAL_BASE_URL: expected an https:// URL in production');
  }
  if (parsedBase.search || parsedBase.hash) {
    throw new ConfigError('Invalid environment variable AC_LOCAL_BASE_URL: expected a URL without query or fragment');
  }
  if (values.INSTALL_ALLOW_LOOPBACK === 'true' && production) {
    throw new ConfigError('Invalid environment variable INSTALL_ALLOW_LOOPBACK: it cannot be true in production');
  }

  return {
    environment: values.NODE_ENV,
    port: values.PORT,
    host: values.HOST,
    localBaseUrl,
    basePath: parsedBase.pathname.replace(/\/+$/, ''),
    appKey: values.AC_APP_KEY,
    database: databaseFromUrl(values.DATABASE_URL, cwd),
    redisUrl: values.REDIS_URL,
    dockerHubUrl: values.DOCKER_HUB_URL.replace(/\/+$/, ''),
    dockerHubWebUrl: (values.DOCKER_HUB_WEB_URL ?? values.DOCKER_HUB_URL).replace(/\/+$/, ''),
    logLevel: values.LOG_LEVEL,
    upstreamTimeoutMs: values.UPSTREAM_TIMEOUT_MS,
    panelBudgetMs: values.PANEL_BUDGET_MS,
    configFileMaxBytes: values.CONFIG_FILE_MAX_BYTES,
    jwtLeewaySeconds: values.JWT_LEEWAY_SECONDS,
    cacheLifetimes: {
      bitbucketFreshMs: values.CACHE_BITBUCKET_SECONDS * 1000,
      dockerHubFreshMs: values.CACHE_DOCKER_HUB_SECONDS * 1000,
      notFoundMs: values.CACHE_NOT_FOUND_SECONDS * 1000,
      staleKeepMs: values.CACHE_STALE_KEEP_SECONDS * 1000,
    },
    allowLoopbackHosts: values.INSTALL_ALLOW_LOOPBACK ? values.INSTALL_ALLOW_LOOPBACK === 'true' : !production,
    verifyInstallWithBitbucket: values.INSTALL_VERIFY_WITH_BITBUCKET
      ? values.INSTALL_VERIFY_WITH_BITBUCKET === 'true'
      : production,
  };
}

function databaseFromUrl(url: string | undefined, cwd: string): AppConfig['database'] {
  if (!url) {
    return { kind: 'sqlite', file: path.join(cwd, 'data', 'tenants.sqlite') };
  }
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    return { kind: 'sqlite', file: file === ':memory:' ? file : path.resolve(cwd, file) };
  }
  return { kind: 'postgres', url };
}
