/**
 * Tools for integration tests that play Bitbucket against the add-on: a sandbox
 * of the add-on and both simulators on loopback, install payloads and lifecycle
 * tokens sent by hand, re-signed panel tokens and parsed log lines.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import jwt, { JwtPayload } from 'jsonwebtoken';
import { BitbucketSimulator, startBitbucketSimulator } from '../../src/sandbox/bitbucket-simulator';
import { signHostToken } from '../../src/sandbox/bitbucket-jwt';
import { findSandboxDataDir } from '../../src/sandbox/data-dir';
import { DockerHubSimulator, startDockerHubSimulator } from '../../src/sandbox/docker-hub-simulator';
import { startAddon, TestAddon } from './addon';

export const APP_KEY = 'docker-hub-for-bitbucket';

export interface Sandbox {
  hub: DockerHubSimulator;
  addon: TestAddon;
  bitbucket: BitbucketSimulator;
  stop(): Promise<void>;
}

/**
 * Starts the Docker Hub simulator, the add-on pointed at it, and the Bitbucket
 * simulator pointed at the add-on's base URL. `env` is added to the add-on's
 * settings, and may be a function of the add-on's root URL.
 */
export async function startSandbox(
  env: Record<string, string> | ((url: string) => Record<string, string>) = {},
): Promise<Sandbox> {
  const hub = await startDockerHubSimulator();
  let addon: TestAddon | undefined;
  try {
    addon = await startAddon((url) => ({
      DOCKER_HUB_URL: hub.url,
      ...(typeof env === 'function' ? env(url) : env),
    }));
    const bitbucket = await startBitbucketSimulator({ addonBaseUrl: addon.baseUrl, appKey: APP_KEY });
    const started = addon;
    return {
      hub,
      addon: started,
      bitbucket,
      stop: async () => {
        await bitbucket.close();
        await started.stop();
        await hub.close();
      },
    };
  } catch (error) {
    await addon?.stop();
    await hub.close();
    throw error;
  }
}

/** Returns the `{uuid}` of a sandbox workspace, read from sandbox/bitbucket/<workspace>/workspace.json. */
export function workspaceUuid(workspace: string): string {
  const file = path.join(findSandboxDataDir('bitbucket'), workspace, 'workspace.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { uuid: string }).uuid;
}

/** Returns the clientKey that Bitbucket, and the simulator, give a workspace install of this add-on. */
export function clientKeyFor(workspace: string): string {
  return `ari:cloud:bitbucket::app/${workspaceUuid(workspace)}/${APP_KEY}`;
}

export interface InstallFields {
  clientKey: string;
  sharedSecret: string;
  baseUrl: string;
  baseApiUrl: string;
  principalUuid?: string;
}

/** Builds an `installed` payload with the fields Bitbucket sends. */
export function installPayload(fields: InstallFields): Record<string, unknown> {
  const principal = { type: 'team', uuid: fields.principalUuid ?? '{11111111-2222-3333-4444-555555555555}' };
  return {
    key: APP_KEY,
    clientKey: fields.clientKey,
    sharedSecret: fields.sharedSecret,
    baseUrl: fields.baseUrl,
    baseApiUrl: fields.baseApiUrl,
    productType: 'bitbucket',
    eventType: 'installed',
    principal,
    user: principal,
  };
}

/** Returns a random shared secret of 43 characters, the length Bitbucket's secrets have. */
export function randomSecret(): string {
  return crypto.randomBytes(32).toString('base64url');
}

/** Signs a lifecycle callback as Bitbucket does: HS256, iss = aud = clientKey, qsh over POST and the path. */
export function lifecycleToken(clientKey: string, secret: string, pathAndQuery: string): string {
  return signHostToken({ clientKey, secret, method: 'POST', pathAndQuery });
}

/** Returns the path and query of an absolute URL, for supertest. */
export function pathAndQuery(url: string): string {
  const parsed = new URL(url);
  return `${parsed.pathname}${parsed.search}`;
}

/** Returns the `jwt` query parameter of a panel URL. */
export function tokenOf(url: string): string {
  const token = new URL(url).searchParams.get('jwt');
  if (!token) {
    throw new Error(`Panel URL has no jwt parameter: ${url}`);
  }
  return token;
}

/** Replaces the `jwt` query parameter of a panel URL and returns the new path and query. */
export function withToken(url: string, token: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('jwt', token);
  return `${parsed.pathname}${parsed.search}`;
}

/** Returns a token with the same claims but the `none` algorithm and an empty signature. */
export function unsignedCopy(token: string): string {
  const claims = jwt.decode(token) as JwtPayload;
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(claims)}.`;
}

/** Returns a token with the same claims signed RS256 by a fresh RSA key. */
export function rs256Copy(token: string): string {
  const claims = jwt.decode(token) as JwtPayload;
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return jwt.sign(claims, privateKey, { algorithm: 'RS256' });
}

export type LogEntry = Record<string, unknown>;

/** Parses the add-on's captured JSON log lines. */
export function logEntries(addon: TestAddon): LogEntry[] {
  return addon.logLines().map((line) => JSON.parse(line) as LogEntry);
}

/** Returns the access log entries ("request completed") for one method and path, oldest first. */
export function requestEntries(addon: TestAddon, method: string, requestPath: string | RegExp): LogEntry[] {
  const matches = (value: unknown) =>
    typeof requestPath === 'string' ? value === requestPath : typeof value === 'string' && requestPath.test(value);
  return logEntries(addon).filter(
    (entry) => entry.msg === 'request completed' && entry.method === method && matches(entry.path),
  );
}

/** Returns the status of the most recent logged request with this method and path. */
export function lastStatus(addon: TestAddon, method: string, requestPath: string | RegExp): unknown {
  return requestEntries(addon, method, requestPath).at(-1)?.status;
}
