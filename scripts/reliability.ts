/**
 * Reliability run. Starts the compiled add-on (dist/src/server.js) as a child
 * process on a temporary sqlite file, between the Bitbucket and Docker Hub
 * simulators on 127.0.0.1. It then sends every upstream fault, hostile config
 * file and hostile host request of the case tables below, one at a time, and
 * writes docs/reliability.md.
 *
 * `npm run reliability` builds first and runs the compiled copy,
 * dist/scripts/reliability.js. It exits with 1 when a case got a 500 or a stack
 * trace, no response or a response slower than PANEL_BUDGET_MS + 1 s, or when the
 * add-on process died. It exits with 2 when the run itself could not be set up.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findProjectRoot } from '../src/paths';
import { AddonChild, compiledServerEntry, probeHealth, startAddonChild } from '../src/sandbox/addon-process';
import { BitbucketSimulator, startBitbucketSimulator } from '../src/sandbox/bitbucket-simulator';
import { findSandboxDataDir } from '../src/sandbox/data-dir';
import { DockerHubSimulator, hubRateLimitFault, startDockerHubSimulator } from '../src/sandbox/docker-hub-simulator';
import type { Fault } from '../src/sandbox/faults';
import { parsePanelHtml } from '../test/helpers/panel-html';

const PROJECT_ROOT = findProjectRoot(__dirname);
const SERVER_ENTRY = compiledServerEntry(PROJECT_ROOT);
const REPORT_FILE = path.join(PROJECT_ROOT, 'docs', 'reliability.md');

const PANEL_BUDGET_MS = 3000;
/** A response slower than this fails the run. */
const MAX_RESPONSE_MS = PANEL_BUDGET_MS + 1000;
/** Every request of the run is aborted after this long, and then counts as missing. */
const REQUEST_TIMEOUT_MS = 10_000;
/** CACHE_DOCKER_HUB_SECONDS and CACHE_BITBUCKET_SECONDS of the add-on process for warm cases. */
const WARM_CACHE_SECONDS = 1;
/** panel-service.ts keeps the main branch fresh ten times longer than other Bitbucket responses. */
const WARM_WAIT_MS = WARM_CACHE_SECONDS * 10 * 1000 + 1500;
/** Retry time of the 429 cases. The add-on pauses every Docker Hub call until then. */
const RATE_LIMIT_SECONDS = 2;
const RATE_LIMIT_SETTLE_MS = RATE_LIMIT_SECONDS * 1000 + 500;
/** Characters of the visible message kept per case in the report. */
const MAX_MESSAGE_CHARS = 260;

const WORKSPACE = 'acme-ws';
const CONFIG_FILE = '.docker-repository.yml';
const MEGABYTE = 1024 * 1024;

type CacheState = 'cold' | 'warm' | 'n/a';
type Group = 'Docker Hub' | 'Bitbucket' | 'Config file' | 'Host request';

/** One generated repository, `acme-ws/<slug>`, whose config file names the Docker Hub image `acme-ws/<slug>`. */
interface Target {
  slug: string;
  image: string;
}

/** Expected outcome of a case. A mismatch is listed in the report but does not fail the run. */
interface Expectation {
  status?: number;
  state?: string;
  /** Matched against the visible text of the page. */
  text?: RegExp;
}

interface RunContext {
  addon: AddonChild;
  bitbucket: BitbucketSimulator;
  hub: DockerHubSimulator;
}

interface PanelCase {
  group: 'Docker Hub' | 'Bitbucket' | 'Config file';
  name: string;
  caches: Array<'cold' | 'warm'>;
  /** Injects the fault or hostile input for this target, right before the panel is viewed. */
  arrange(context: RunContext, target: Target): void;
  expect(cache: 'cold' | 'warm', target: Target): Expectation;
  /** Milliseconds to wait after the case, for example until a rate-limit pause has ended. */
  settleMs?: number;
}

interface HostRequestCase {
  name: string;
  send(context: RunContext): Promise<HttpResult>;
  expect: Expectation;
}

interface HttpResult {
  /** Undefined when no response arrived. */
  status?: number;
  elapsedMs: number;
  body: string;
  contentType: string;
  error?: string;
}

interface CaseRecord {
  group: Group;
  name: string;
  cache: CacheState;
  status: number | undefined;
  elapsedMs: number;
  state: string;
  message: string;
  processUp: boolean;
  /** "no", or what was seen: HTTP 500, a 500 in the add-on's log, a stack trace, an unhandled rejection. */
  crashSigns: string[];
  /** Empty when the page matched the expectation. */
  unexpected: string;
  failures: string[];
}

// ---------------------------------------------------------------------------
// Add-on child process

/** Starts the add-on with info logs, which crashSigns reads, and the panel budget that the case limits assume. */
function startAddon(env: Record<string, string>, port?: number): Promise<AddonChild> {
  return startAddonChild({
    env: { LOG_LEVEL: 'info', PANEL_BUDGET_MS: String(PANEL_BUDGET_MS), ...env },
    port,
  });
}

// ---------------------------------------------------------------------------
// HTTP

/** Sends one request and reads the whole body, aborting both after `timeoutMs`. Failures are returned, not thrown. */
async function send(url: string, init: RequestInit = {}, timeoutMs = REQUEST_TIMEOUT_MS): Promise<HttpResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const started = Date.now();
  try {
    const response = await fetch(url, { ...init, signal: controller.signal });
    const body = await response.text();
    return {
      status: response.status,
      elapsedMs: Date.now() - started,
      body,
      contentType: response.headers.get('content-type') ?? '',
    };
  } catch (error) {
    const reason = controller.signal.aborted ? `no response within ${timeoutMs} ms` : describeError(error);
    return { elapsedMs: Date.now() - started, body: '', contentType: '', error: reason };
  } finally {
    clearTimeout(timer);
  }
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
  return cause ? `${error.message}: ${cause.code ?? cause.message}` : error.message;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------
// Simulator data: one generated repository and Docker Hub image per case

interface DataDirectories {
  root: string;
  bitbucket: string;
  hub: string;
}

/**
 * Copies the sandbox data into a temporary directory and adds one repository
 * and one image per target, modelled on acme-ws/widget-api. Fresh names keep
 * every cold case away from responses that earlier cases cached.
 */
function createDataDirectories(targets: Target[]): DataDirectories {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'reliability-'));
  const bitbucket = path.join(root, 'bitbucket');
  const hub = path.join(root, 'docker-hub');
  fs.cpSync(findSandboxDataDir('bitbucket'), bitbucket, { recursive: true });
  fs.cpSync(findSandboxDataDir('docker-hub'), hub, { recursive: true });

  const repositoryTemplate = JSON.parse(
    fs.readFileSync(path.join(bitbucket, WORKSPACE, 'widget-api', 'repository.json'), 'utf8'),
  );
  const imageTemplate = readHubImageTemplate();
  for (const target of targets) {
    const repositoryDir = path.join(bitbucket, WORKSPACE, target.slug);
    fs.mkdirSync(path.join(repositoryDir, 'files'), { recursive: true });
    const record = {
      ...repositoryTemplate,
      uuid: `{${crypto.randomUUID()}}`,
      name: target.slug,
      description: 'Generated by scripts/reliability.ts',
    };
    fs.writeFileSync(path.join(repositoryDir, 'repository.json'), JSON.stringify(record, null, 2));
    fs.writeFileSync(path.join(repositoryDir, 'files', CONFIG_FILE), `repository: ${target.image}\n`);

    const [namespace, name] = target.image.split('/');
    const image = {
      ...imageTemplate,
      repository: { ...imageTemplate.repository, user: namespace, namespace, name },
    };
    fs.mkdirSync(path.join(hub, 'images', namespace), { recursive: true });
    fs.writeFileSync(path.join(hub, 'images', namespace, `${name}.json`), JSON.stringify(image, null, 2));
  }
  return { root, bitbucket, hub };
}

function readHubImageTemplate(): { repository: Record<string, unknown>; tags: unknown[] } {
  const file = path.join(findSandboxDataDir('docker-hub'), 'images', WORKSPACE, 'widget-api.json');
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

// ---------------------------------------------------------------------------
// Docker Hub cases

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Path matches for the Docker Hub endpoints of an image. `all` is a prefix of every endpoint's path. */
function hubPaths(image: string) {
  const all = `/v2/repositories/${image}/`;
  return {
    all,
    repository: new RegExp(`^${escapeRegExp(all)}$`),
    tags: new RegExp(`^${escapeRegExp(all)}tags/$`),
  };
}

/** Returns the repository object of the template image renamed to `image`, with `pullCount` as raw JSON text. */
function repositoryBodyWithPulls(image: string, pullCount: string): string {
  const [namespace, name] = image.split('/');
  const repository = { ...readHubImageTemplate().repository, namespace, name, user: namespace, pull_count: '@PULLS@' };
  // Built as text, so that a count beyond 2^53 reaches the add-on exactly as written.
  return JSON.stringify(repository).replace('"@PULLS@"', pullCount);
}

const HUB_ERROR_TEXT = /Docker Hub (is unavailable|did not answer in time|sent an unexpected response|is rate-limiting)/;
const STALE_TEXT = /Stale data from/;
/** Warm Bitbucket failures: old settings or old build statuses, each marked with its age. */
const BITBUCKET_STALE_TEXT = /Repository settings from|Stale data from/;
const NOT_FOUND_TEXT = /Docker Hub has no public image/;

/** Cold: the panel names the failure. Warm: it shows the cached response marked stale. */
function hubFailureExpectation(cache: 'cold' | 'warm'): Expectation {
  return { status: 200, state: 'ready', text: cache === 'cold' ? HUB_ERROR_TEXT : STALE_TEXT };
}

function hubFaultCase(name: string, fault: () => Fault, settleMs?: number): PanelCase {
  return {
    group: 'Docker Hub',
    name,
    caches: ['cold', 'warm'],
    arrange: ({ hub }, target) => hub.setFault(hubPaths(target.image).all, fault()),
    expect: hubFailureExpectation,
    settleMs,
  };
}

function hubBodyCase(name: string, bodies: (target: Target) => Array<[RegExp, Fault]>, expect: PanelCase['expect']): PanelCase {
  return {
    group: 'Docker Hub',
    name,
    caches: ['cold', 'warm'],
    arrange: ({ hub }, target) => {
      for (const [match, fault] of bodies(target)) hub.setFault(match, fault);
    },
    expect,
  };
}

const jsonBody = (body: string): Fault => ({ kind: 'status', status: 200, body, contentType: 'application/json' });

const HUB_CASES: PanelCase[] = [
  {
    group: 'Docker Hub',
    name: '404 on every endpoint',
    caches: ['cold', 'warm'],
    arrange: ({ hub }, target) => hub.setFault(hubPaths(target.image).all, { kind: 'status', status: 404 }),
    // A 404 is never served as stale data, warm or not.
    expect: () => ({ status: 200, state: 'ready', text: NOT_FOUND_TEXT }),
  },
  hubFaultCase('429 with Retry-After', () => hubRateLimitFault({ retryAfterSeconds: RATE_LIMIT_SECONDS }), RATE_LIMIT_SETTLE_MS),
  hubFaultCase(
    '429 with X-Retry-After',
    () => hubRateLimitFault({ retryAt: new Date(Date.now() + RATE_LIMIT_SECONDS * 1000) }),
    RATE_LIMIT_SETTLE_MS,
  ),
  hubFaultCase('500', () => ({ kind: 'status', status: 500 })),
  hubFaultCase('502', () => ({ kind: 'status', status: 502 })),
  hubFaultCase('504 with an HTML page', () => ({ kind: 'status', status: 504 })),
  hubFaultCase('slow: 10 s delay', () => ({ kind: 'delay', ms: 10_000 })),
  hubFaultCase('never responds (hang)', () => ({ kind: 'hang' })),
  hubFaultCase('connection reset', () => ({ kind: 'reset' })),
  hubFaultCase('garbage JSON', () => ({ kind: 'garbage' })),
  hubFaultCase('wrong content type (HTML sign-in page)', () => ({ kind: 'wrong-content-type' })),
  hubFaultCase('huge 10 MB body', () => ({ kind: 'huge', bytes: 10 * MEGABYTE })),
  hubFaultCase('`{}` body', () => ({ kind: 'json', body: {} })),
  hubBodyCase(
    'null and missing fields',
    (target) => {
      const [namespace, name] = target.image.split('/');
      const paths = hubPaths(target.image);
      const repository = { namespace, name, description: null, star_count: null, pull_count: null, last_updated: null };
      const tags = {
        count: null,
        results: [{ name: 'latest', full_size: null, last_updated: null, images: null }, { name: 'bare' }],
      };
      return [
        [paths.repository, jsonBody(JSON.stringify(repository))],
        [paths.tags, jsonBody(JSON.stringify(tags))],
      ];
    },
    () => ({ status: 200, state: 'ready', text: /Pulls —/ }),
  ),
  hubBodyCase(
    'pull_count 2147483647',
    (target) => [[hubPaths(target.image).repository, jsonBody(repositoryBodyWithPulls(target.image, '2147483647'))]],
    () => ({ status: 200, state: 'ready', text: /pulls 2\.1B \(2,147,483,647\)/ }),
  ),
  hubBodyCase(
    'pull_count 9007199254740993',
    (target) => [[hubPaths(target.image).repository, jsonBody(repositoryBodyWithPulls(target.image, '9007199254740993'))]],
    () => ({ status: 200, state: 'ready', text: /pulls 9Q \(about 9,007,199,254,740,992\)/ }),
  ),
];

// ---------------------------------------------------------------------------
// Bitbucket cases

type BitbucketEndpoint = 'repository' | 'branch' | 'src' | 'statuses';

function bitbucketPath(slug: string, endpoint: BitbucketEndpoint): string | RegExp {
  const base = `/2.0/repositories/${WORKSPACE}/${slug}`;
  switch (endpoint) {
    case 'repository':
      return new RegExp(`^${escapeRegExp(base)}/?$`);
    case 'branch':
      return `${base}/refs/branches/`;
    case 'src':
      return `${base}/src/`;
    case 'statuses':
      return `${base}/commit/`;
  }
}

const BITBUCKET_FAULTS: Array<[string, Fault]> = [
  ['401', { kind: 'status', status: 401 }],
  ['403', { kind: 'status', status: 403 }],
  ['404 repository not found', { kind: 'status', status: 404 }],
  ['500', { kind: 'status', status: 500 }],
  ['never responds (hang)', { kind: 'hang' }],
  ['connection reset', { kind: 'reset' }],
];

const BITBUCKET_ENDPOINT_LABELS: Record<BitbucketEndpoint, string> = {
  repository: 'repository (main branch)',
  branch: 'branch (head commit)',
  src: `src (${CONFIG_FILE})`,
  statuses: 'commit statuses',
};

/**
 * Cold, a failure on the repository or the config file stops the panel, because
 * the add-on needs both to show anything. The branch head only feeds the build
 * statuses, so a failure there leaves the rest of the panel. Warm, the README
 * promises the earlier response marked stale, except after a 404.
 */
function bitbucketExpectation(endpoint: BitbucketEndpoint, faultName: string, cache: 'cold' | 'warm'): Expectation {
  const notFound = faultName.startsWith('404');
  if (cache === 'warm' && !notFound) {
    return { status: 200, state: 'ready', text: BITBUCKET_STALE_TEXT };
  }
  if (endpoint === 'branch' || endpoint === 'statuses') {
    return { status: 200, state: 'ready', text: /Bitbucket build statuses:/ };
  }
  if (endpoint === 'src' && notFound) {
    return { status: 200, state: 'disabled' };
  }
  return { status: 200, state: 'bitbucket-error' };
}

const BITBUCKET_CASES: PanelCase[] = (['repository', 'branch', 'src', 'statuses'] as const).flatMap((endpoint) =>
  BITBUCKET_FAULTS.map(
    ([faultName, fault]): PanelCase => ({
      group: 'Bitbucket',
      name: `${faultName} on ${BITBUCKET_ENDPOINT_LABELS[endpoint]}`,
      caches: ['cold', 'warm'],
      arrange: ({ bitbucket }, target) => bitbucket.setFault(bitbucketPath(target.slug, endpoint), fault),
      expect: (cache) => bitbucketExpectation(endpoint, faultName, cache),
    }),
  ),
);

// ---------------------------------------------------------------------------
// Hostile config files

const CONFIG_ERROR: Expectation = { status: 200, state: 'config-error' };
const READY: Expectation = { status: 200, state: 'ready' };

function configCase(name: string, bytes: (target: Target) => Buffer, expect: Expectation): PanelCase {
  return {
    group: 'Config file',
    name,
    caches: ['cold'],
    arrange: ({ bitbucket }, target) => bitbucket.setFile(WORKSPACE, target.slug, CONFIG_FILE, bytes(target)),
    expect: () => expect,
  };
}

const utf8 = (text: string) => Buffer.from(text, 'utf8');
/** Object id of the sandbox's lfs-config file, for the Git LFS cases. */
const LFS_OBJECT_ID = '5d44b60bb78ce410fa3e19bf53ec3eaed1a18bbd12a0f984e07e4e291b74e6e5';
const BOM = '\uFEFF';

function aliasBomb(target: Target): Buffer {
  const names = 'abcdefghi'.split('');
  const lines = [`a: &a [${Array(9).fill('"lol"').join(', ')}]`];
  for (let index = 1; index < names.length; index += 1) {
    lines.push(`${names[index]}: &${names[index]} [${Array(9).fill(`*${names[index - 1]}`).join(', ')}]`);
  }
  lines.push(`repository: ${target.image}`);
  return utf8(`${lines.join('\n')}\n`);
}

const CONFIG_CASES: PanelCase[] = [
  configCase('empty file', () => Buffer.alloc(0), READY),
  configCase('comments only', () => utf8('# Docker Hub settings\n# repository: examplens/app\n'), READY),
  configCase('UTF-8 BOM before the key', (target) => utf8(`${BOM}repository: ${target.image}\n`), READY),
  configCase('UTF-8 BOM only', () => utf8(BOM), READY),
  configCase('UTF-8 BOM after `---`', (target) => utf8(`---\n${BOM}repository: ${target.image}\n`), READY),
  configCase('two UTF-8 BOMs', (target) => utf8(`${BOM}${BOM}repository: ${target.image}\n`), READY),
  configCase(
    'UTF-16 LE with BOM',
    (target) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`repository: ${target.image}\n`, 'utf16le')]),
    CONFIG_ERROR,
  ),
  configCase(
    'UTF-16 BE with BOM',
    (target) => Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(`repository: ${target.image}\n`, 'utf16le').swap16()]),
    CONFIG_ERROR,
  ),
  configCase('UTF-16 LE without BOM', (target) => Buffer.from(`repository: ${target.image}\n`, 'utf16le'), CONFIG_ERROR),
  configCase('Latin-1 text', (target) => Buffer.from(`# café\nrepository: ${target.image}\n`, 'latin1'), CONFIG_ERROR),
  configCase(
    'invalid UTF-8 bytes',
    (target) => Buffer.concat([utf8(`repository: ${target.image}`), Buffer.from([0xc0, 0xaf, 0x80, 0xfe, 0x0a])]),
    CONFIG_ERROR,
  ),
  configCase('5 MB file with Content-Length', () => Buffer.alloc(5 * MEGABYTE, '#'), CONFIG_ERROR),
  {
    group: 'Config file',
    name: '5 MB chunked body',
    caches: ['cold'],
    arrange: ({ bitbucket }, target) =>
      bitbucket.setFault(bitbucketPath(target.slug, 'src'), { kind: 'huge', bytes: 5 * MEGABYTE }),
    expect: () => CONFIG_ERROR,
  },
  configCase(
    'deeply nested flow sequences',
    () => utf8(`repository: ${'['.repeat(30_000)}${']'.repeat(30_000)}\n`),
    CONFIG_ERROR,
  ),
  // 12 000 levels stay under the 64 KiB file limit, so that the YAML parser gets them.
  configCase('deeply nested flow mappings', () => utf8(`${'{a: '.repeat(12_000)}1${'}'.repeat(12_000)}\n`), CONFIG_ERROR),
  configCase('alias bomb (billion laughs)', aliasBomb, READY),
  configCase('duplicate keys', (target) => utf8(`repository: ${target.image}\nrepository: library/nginx\n`), CONFIG_ERROR),
  configCase('two documents', (target) => utf8(`repository: ${target.image}\n---\nrepository: library/nginx\n`), CONFIG_ERROR),
  configCase('list', (target) => utf8(`- ${target.image}\n`), CONFIG_ERROR),
  configCase('number', () => utf8('42\n'), CONFIG_ERROR),
  configCase('near-miss key `repo:`', (target) => utf8(`repo: ${target.image}\n`), {
    status: 200,
    state: 'ready',
    text: /did you mean "repository"/,
  }),
  configCase('ghcr.io image', () => utf8('repository: ghcr.io/examplens/app\n'), CONFIG_ERROR),
  configCase(
    'Docker Hub URL with a query',
    (target) => utf8(`repository: https://hub.docker.com/r/${target.image}?tab=tags\n`),
    READY,
  ),
  configCase('upper-case name', (target) => utf8(`repository: ${target.image.toUpperCase()}\n`), {
    status: 200,
    state: 'ready',
    text: /lower case/,
  }),
  configCase('`../` traversal', () => utf8('repository: acme-ws/../../v2/users/admin\n'), CONFIG_ERROR),
  configCase('control characters', (target) => utf8(`repository: ${target.image}\u001b[31m\u0007\n`), CONFIG_ERROR),
  configCase(
    'Git LFS pointer as content',
    () =>
      utf8(
        'version https://git-lfs.github.com/spec/v1\n' +
          `oid sha256:${LFS_OBJECT_ID}\nsize 40\n`,
      ),
    CONFIG_ERROR,
  ),
  {
    group: 'Config file',
    name: '301 redirect (Git LFS)',
    caches: ['cold'],
    arrange: ({ bitbucket }, target) =>
      bitbucket.setRedirect(WORKSPACE, target.slug, CONFIG_FILE, `/__media/lfs/${LFS_OBJECT_ID}`),
    expect: () => CONFIG_ERROR,
  },
];

// ---------------------------------------------------------------------------
// Hostile host requests

/** Repository whose panel URL the host request cases sign or tamper with. */
const HOST_CASE_REPOSITORY = 'web-proxy';
const UNAUTHORIZED: Expectation = { status: 401, state: 'unauthorized' };

function signedPanelUrl(context: RunContext, options: Parameters<BitbucketSimulator['panelUrl']>[2] = {}): string {
  return context.bitbucket.panelUrl(WORKSPACE, HOST_CASE_REPOSITORY, options);
}

function postInstall(context: RunContext, body: string): Promise<HttpResult> {
  return send(`${context.addon.url}/installed`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body,
  });
}

function installPayload(baseUrl: string, baseApiUrl: string): Record<string, unknown> {
  return {
    key: 'docker-hub-for-bitbucket',
    clientKey: `reliability-${crypto.randomUUID()}`,
    sharedSecret: crypto.randomBytes(32).toString('base64url'),
    baseUrl,
    baseApiUrl,
    productType: 'bitbucket',
    eventType: 'installed',
  };
}

const HOST_CASES: HostRequestCase[] = [
  {
    name: 'panel without a token',
    send: (context) => {
      const url = new URL(signedPanelUrl(context));
      url.searchParams.delete('jwt');
      return send(url.toString());
    },
    expect: UNAUTHORIZED,
  },
  {
    name: 'expired token',
    send: (context) => {
      const issuedAt = Math.floor(Date.now() / 1000) - 1200;
      return send(signedPanelUrl(context, { issuedAt, expiresInSeconds: 600 }));
    },
    expect: UNAUTHORIZED,
  },
  {
    name: 'token signed with a wrong secret',
    send: (context) => send(signedPanelUrl(context, { secret: crypto.randomBytes(32).toString('base64url') })),
    expect: UNAUTHORIZED,
  },
  {
    name: 'context token (`qsh: context-qsh`)',
    send: (context) => send(signedPanelUrl(context, { qsh: 'context-qsh' })),
    expect: UNAUTHORIZED,
  },
  {
    name: 'token of an unknown tenant',
    send: (context) =>
      send(signedPanelUrl(context, { clientKey: `ari:cloud:bitbucket::app/{${crypto.randomUUID()}}/docker-hub-for-bitbucket` })),
    expect: UNAUTHORIZED,
  },
  {
    name: 'tampered query (other repository)',
    send: (context) => {
      const url = new URL(signedPanelUrl(context));
      url.searchParams.set('repo', `${WORKSPACE}/widget-api`);
      return send(url.toString());
    },
    expect: UNAUTHORIZED,
  },
  {
    name: 'oversized query string (100 KB)',
    send: (context) => send(`${signedPanelUrl(context)}&padding=${'a'.repeat(100 * 1024)}`),
    // Node's HTTP parser rejects request heads over 16 KiB (its default maxHeaderSize) before Express runs.
    expect: { status: 431 },
  },
  {
    name: '1 MB install body',
    send: (context) => {
      const payload = installPayload(context.bitbucket.webUrl, context.bitbucket.apiUrl);
      return postInstall(context, JSON.stringify({ ...payload, padding: 'x'.repeat(MEGABYTE) }));
    },
    expect: { status: 413 },
  },
  {
    name: 'install with invalid JSON body',
    send: (context) => postInstall(context, '{"key": "docker-hub-for-bitbucket", "clientKey": '),
    expect: { status: 400 },
  },
  {
    name: 'install from a non-loopback baseUrl',
    send: (context) =>
      postInstall(context, JSON.stringify(installPayload('https://bitbucket.example.com', 'https://api.bitbucket.example.com'))),
    expect: { status: 403 },
  },
];

// ---------------------------------------------------------------------------
// Running cases

/** Returns what the user saw: the panel's notices, or for other pages their text, shortened. */
function visibleMessage(result: HttpResult): { state: string; message: string } {
  if (result.status === undefined) {
    return { state: '-', message: `no response: ${result.error ?? 'unknown error'}` };
  }
  if (result.contentType.includes('json')) {
    let message = result.body;
    try {
      message = String((JSON.parse(result.body) as { message?: unknown }).message ?? result.body);
    } catch {
      // The body is not JSON after all, so its raw text is shown.
    }
    return { state: '-', message: shorten(message) };
  }
  if (!result.contentType.includes('html')) {
    return { state: '-', message: shorten(result.body.trim() || '(empty body)') };
  }
  const page = parsePanelHtml(result.body);
  const state = page.state ?? /data-state="([^"]*)"/.exec(result.body)?.[1] ?? '-';
  const parts: string[] = [];
  if (page.image) {
    const pulls = page.stats.pulls;
    const pullsText = pulls ? `pulls ${pulls.text}${pulls.title ? ` (${pulls.title})` : ''}` : 'no pulls shown';
    parts.push(`${page.image.reference}, ${pullsText}, ${page.tagNames.length} tags`);
  }
  const notices = page.notices.filter((notice) => notice.level !== 'source' && notice.level !== 'info');
  parts.push(...notices.map((notice) => notice.text));
  if (parts.length === 0) {
    parts.push(page.notices.map((notice) => notice.text).join(' ') || page.text);
  }
  return { state, message: shorten(parts.join(' · ')) };
}

function shorten(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > MAX_MESSAGE_CHARS ? `${flat.slice(0, MAX_MESSAGE_CHARS - 1)}…` : flat;
}

/**
 * A stack frame in a page, or a non-empty `stack` field in a JSON log line. pino's
 * error serializer adds `"stack":""` to every `err` object, which is no trace.
 */
const STACK_PATTERN = /\n\s+at \S.*:\d+:\d+|"stack":"[^"]/;

/** Lists signs of a crash in the response or in the add-on's log lines written during the case. */
function crashSigns(result: HttpResult, log: string): string[] {
  const signs: string[] = [];
  if (result.status === 500) signs.push('HTTP 500');
  if (STACK_PATTERN.test(result.body)) signs.push('stack trace in the response');
  if (/"status":500\b/.test(log)) signs.push('500 in the add-on log');
  if (STACK_PATTERN.test(log)) signs.push('stack trace in the add-on log');
  if (/unhandled promise rejection|uncaughtException/i.test(log)) signs.push('unhandled error in the add-on log');
  return signs;
}

function compare(expectation: Expectation, result: HttpResult, state: string): string {
  const problems: string[] = [];
  if (expectation.status !== undefined && result.status !== expectation.status) {
    problems.push(`expected HTTP ${expectation.status}`);
  }
  if (expectation.state !== undefined && state !== expectation.state) {
    problems.push(`expected ${expectation.state}`);
  }
  if (expectation.text !== undefined) {
    const page = parsePanelHtml(result.body);
    const text = `${page.text} ${visibleMessage(result).message}`;
    if (!expectation.text.test(text)) problems.push(`expected text ${expectation.text}`);
  }
  return problems.join('; ');
}

class Runner {
  readonly records: CaseRecord[] = [];

  constructor(
    private context: RunContext,
    private readonly restartEnv: Record<string, string>,
  ) {}

  get addon(): AddonChild {
    return this.context.addon;
  }

  async runPanelCase(spec: PanelCase, cache: 'cold' | 'warm', target: Target): Promise<void> {
    await this.runCase(spec.group, spec.name, cache, spec.expect(cache, target), spec.settleMs ?? 0, () => {
      spec.arrange(this.context, target);
      return send(this.context.bitbucket.panelUrl(WORKSPACE, target.slug));
    });
  }

  async runHostCase(spec: HostRequestCase): Promise<void> {
    await this.runCase('Host request', spec.name, 'n/a', spec.expect, 0, () => spec.send(this.context));
  }

  private async runCase(
    group: Group,
    name: string,
    cache: CacheState,
    expectation: Expectation,
    settleMs: number,
    act: () => Promise<HttpResult>,
  ): Promise<void> {
    const logStart = this.addon.output().length;
    const result = await act();
    this.context.hub.clearFaults();
    this.context.bitbucket.clearFaults();
    if (settleMs > 0) await sleep(settleMs);

    const processUp = this.addon.running() && (await probeHealth(this.addon.url));
    const log = this.addon.output().slice(logStart);
    const { state, message } = visibleMessage(result);
    const signs = crashSigns(result, log);
    const failures: string[] = [];
    if (result.status === undefined) failures.push('no response');
    if (result.elapsedMs > MAX_RESPONSE_MS) failures.push(`slower than ${MAX_RESPONSE_MS} ms`);
    if (signs.length > 0) failures.push(...signs);
    if (!processUp) failures.push('process down');

    const record: CaseRecord = {
      group,
      name,
      cache,
      status: result.status,
      elapsedMs: result.elapsedMs,
      state,
      message,
      processUp,
      crashSigns: signs,
      unexpected: result.status === undefined ? '' : compare(expectation, result, state),
      failures,
    };
    this.records.push(record);
    const verdict = failures.length > 0 ? `FAIL (${failures.join(', ')})` : 'ok';
    process.stdout.write(`${group} | ${name} | ${cache} | ${result.status ?? '-'} | ${result.elapsedMs} ms | ${verdict}\n`);
    if (!processUp) await this.restart();
  }

  /** Replaces a dead add-on process on the same port and sqlite file, so that later cases still run. */
  private async restart(): Promise<void> {
    const previous = this.context.addon;
    process.stdout.write(`The add-on process ${previous.pid} is down; its output:\n${previous.output().slice(-4000)}\n`);
    await previous.stop();
    this.context = { ...this.context, addon: await startAddon(this.restartEnv, previous.port) };
  }
}

// ---------------------------------------------------------------------------
// Phases

interface PlannedCase {
  spec: PanelCase;
  cache: 'cold' | 'warm';
  target: Target;
}

function planCases(): PlannedCase[] {
  const planned: PlannedCase[] = [];
  const specs = [...HUB_CASES, ...BITBUCKET_CASES, ...CONFIG_CASES];
  for (const spec of specs) {
    for (const cache of spec.caches) {
      const slug = `rel-${cache}-${String(planned.length + 1).padStart(3, '0')}`;
      planned.push({ spec, cache, target: { slug, image: `${WORKSPACE}/${slug}` } });
    }
  }
  return planned;
}

async function startPhase(
  hub: DockerHubSimulator,
  dataDirs: DataDirectories,
  env: Record<string, string>,
): Promise<{ runner: Runner; bitbucket: BitbucketSimulator; stop(): Promise<void> }> {
  const addon = await startAddon(env);
  let bitbucket: BitbucketSimulator | undefined;
  try {
    bitbucket = await startBitbucketSimulator({ addonBaseUrl: addon.url, dataDir: dataDirs.bitbucket });
    await bitbucket.install(WORKSPACE);
  } catch (error) {
    await bitbucket?.close();
    await addon.stop();
    throw error;
  }
  const runner = new Runner({ addon, bitbucket, hub }, env);
  const started = bitbucket;
  return {
    runner,
    bitbucket: started,
    stop: async () => {
      await started.close();
      await runner.addon.stop();
    },
  };
}

async function runColdPhase(hub: DockerHubSimulator, dataDirs: DataDirectories, planned: PlannedCase[]): Promise<CaseRecord[]> {
  const env = {
    DATABASE_URL: `sqlite:${path.join(dataDirs.root, 'cold.sqlite')}`,
    DOCKER_HUB_URL: hub.url,
  };
  const phase = await startPhase(hub, dataDirs, env);
  try {
    for (const { spec, target } of planned.filter((item) => item.cache === 'cold')) {
      await phase.runner.runPanelCase(spec, 'cold', target);
    }
    for (const spec of HOST_CASES) {
      await phase.runner.runHostCase(spec);
    }
  } finally {
    await phase.stop();
  }
  return phase.runner.records;
}

/**
 * Views each warm target once without faults, waits until every cached response
 * is past its freshness, then views it again with the fault in place.
 */
async function runWarmPhase(hub: DockerHubSimulator, dataDirs: DataDirectories, planned: PlannedCase[]): Promise<CaseRecord[]> {
  const env = {
    DATABASE_URL: `sqlite:${path.join(dataDirs.root, 'warm.sqlite')}`,
    DOCKER_HUB_URL: hub.url,
    CACHE_DOCKER_HUB_SECONDS: String(WARM_CACHE_SECONDS),
    CACHE_BITBUCKET_SECONDS: String(WARM_CACHE_SECONDS),
  };
  const phase = await startPhase(hub, dataDirs, env);
  const warm = planned.filter((item) => item.cache === 'warm');
  try {
    for (const { target } of warm) {
      const result = await send(phase.bitbucket.panelUrl(WORKSPACE, target.slug));
      const { state, message } = visibleMessage(result);
      if (result.status !== 200 || state !== 'ready' || /Stale|unavailable|did not answer/.test(message)) {
        throw new Error(`Warming ${target.slug} failed: HTTP ${result.status ?? '-'}, ${state}: ${message}`);
      }
    }
    process.stdout.write(`Warmed ${warm.length} repositories; waiting ${WARM_WAIT_MS} ms for their cached responses to turn stale\n`);
    await sleep(WARM_WAIT_MS);
    for (const { spec, target } of warm) {
      await phase.runner.runPanelCase(spec, 'warm', target);
    }
  } finally {
    await phase.stop();
  }
  return phase.runner.records;
}

// ---------------------------------------------------------------------------
// Report

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function renderReport(records: CaseRecord[], startedAt: Date, durationMs: number): string {
  const failed = records.filter((record) => record.failures.length > 0);
  const unexpected = records.filter((record) => record.unexpected !== '');
  const count = (predicate: (record: CaseRecord) => boolean) => records.filter(predicate).length;
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';

  const lines = [
    '# Reliability run',
    '',
    `Generated by \`npm run reliability\` (scripts/reliability.ts) on ${startedAt.toISOString()}.`,
    'Do not edit this file by hand. Run the command again to update it.',
    '',
    'The run started the compiled add-on as a child process on a temporary sqlite file, with',
    `PANEL_BUDGET_MS=${PANEL_BUDGET_MS} and the default UPSTREAM_TIMEOUT_MS (2500). The Bitbucket and Docker Hub`,
    'simulators ran on 127.0.0.1, and the add-on was installed on `acme-ws`. Each case ran once,',
    'one after another. Each upstream case uses its own generated repository and image, so no',
    'case sees responses that another case cached.',
    '',
    '- **cold**: nothing cached for the repository or image; the fault meets the first view.',
    `- **warm**: a second add-on process with CACHE_DOCKER_HUB_SECONDS=${WARM_CACHE_SECONDS} and`,
    `  CACHE_BITBUCKET_SECONDS=${WARM_CACHE_SECONDS}. Each repository was viewed once without faults, then`,
    `  after ${WARM_WAIT_MS} ms (past every freshness, the main branch's included) viewed again with the fault.`,
    '- A case **fails** when the response was a 500 or showed a stack trace, or when no response',
    `  came within ${REQUEST_TIMEOUT_MS} ms. It also fails when the response took longer than ${MAX_RESPONSE_MS} ms`,
    '  (budget + 1 s), or when the add-on process was gone afterwards (pid not running or',
    '  `/healthz` not 200). The add-on log lines written during the case are checked for 500s,',
    '  stack traces and unhandled rejections too.',
    '- **Expected** compares the page with what the README promises for the case. A mismatch is',
    '  listed for review but does not fail the run.',
    `- Times are wall-clock on the machine that ran the command (${os.cpus().length} × ${cpu},`,
    `  Node.js ${process.version}), with the simulators running on the same machine.`,
    '',
    '| # | Group | Case | Cache | HTTP | Time (ms) | data-state | What the user saw | Process stayed up | 500 or stack trace ' +
      '| Expected | Result |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  records.forEach((record, index) => {
    const row = [
      String(index + 1),
      record.group,
      cell(record.name),
      record.cache,
      record.status === undefined ? 'none' : String(record.status),
      String(record.elapsedMs),
      cell(record.state),
      cell(record.message),
      record.processUp ? 'yes' : 'no',
      record.crashSigns.length === 0 ? 'no' : cell(record.crashSigns.join(', ')),
      record.unexpected === '' ? 'yes' : cell(`no: ${record.unexpected}`),
      record.failures.length === 0 ? 'pass' : cell(`**FAIL**: ${record.failures.join(', ')}`),
    ];
    lines.push(`| ${row.join(' | ')} |`);
  });

  const slowest = records.reduce((max, record) => Math.max(max, record.elapsedMs), 0);
  lines.push(
    '',
    '## Summary',
    '',
    `- ${records.length} cases in ${Math.round(durationMs / 1000)} s: ` +
      `${records.length - failed.length} passed, ${failed.length} failed.`,
    `- HTTP 500 or stack trace: ${count((record) => record.crashSigns.length > 0)}.`,
    `- No response: ${count((record) => record.status === undefined)}.`,
    `- Slower than ${MAX_RESPONSE_MS} ms: ${count((record) => record.elapsedMs > MAX_RESPONSE_MS)} (slowest response ${slowest} ms).`,
    `- Add-on process down after the case: ${count((record) => !record.processUp)}.`,
    `- Page differs from the expectation: ${unexpected.length}.`,
  );
  if (unexpected.length > 0) {
    lines.push('', '### Pages that differ from the expectation', '');
    for (const record of unexpected) {
      const where = `${record.group}, ${cell(record.name)} (${record.cache})`;
      lines.push(`- ${where}: ${cell(record.unexpected)}. Saw: ${cell(record.message)}`);
    }
  }
  lines.push('');
  return lines.join('\n');
}

// ---------------------------------------------------------------------------

async function main(): Promise<number> {
  if (!fs.existsSync(SERVER_ENTRY)) {
    process.stderr.write(`Missing ${SERVER_ENTRY}: run \`npm run build\` first, or use \`npm run reliability\`.\n`);
    return 2;
  }
  const startedAt = new Date();
  const planned = planCases();
  const dataDirs = createDataDirectories(planned.map((item) => item.target));
  const hub = await startDockerHubSimulator({ dataDir: dataDirs.hub });
  let records: CaseRecord[];
  try {
    const cold = await runColdPhase(hub, dataDirs, planned);
    const warm = await runWarmPhase(hub, dataDirs, planned);
    records = [...cold, ...warm];
  } finally {
    await hub.close();
    fs.rmSync(dataDirs.root, { recursive: true, force: true });
  }

  fs.mkdirSync(path.dirname(REPORT_FILE), { recursive: true });
  fs.writeFileSync(REPORT_FILE, renderReport(records, startedAt, Date.now() - startedAt.getTime()));
  const failed = records.filter((record) => record.failures.length > 0);
  process.stdout.write(
    `\n${records.length} cases, ${failed.length} failed; wrote ${path.relative(PROJECT_ROOT, REPORT_FILE)}\n`,
  );
  return failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`Reliability run failed to complete: ${error.stack ?? error.message}\n`);
    process.exit(2);
  },
);
