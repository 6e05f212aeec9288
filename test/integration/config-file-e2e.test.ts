/**
 * `.docker-repository.yml` through the real path: the Bitbucket simulator serves
 * the bytes, the add-on fetches, decodes and parses them, and the panel shows
 * the image it requested from Docker Hub, or a message naming the file, the
 * problem and the line.
 */
import { noticeTexts } from '../helpers/panel-html';
import { PanelEnvironment, startPanelEnvironment } from '../helpers/panel-environment';
import { CountingServer, createHubDataDir, startCountingServer, TemporaryDirectory } from '../helpers/sandbox-data';

const CONFIG_FILE = '.docker-repository.yml';
const WORKSPACE = 'acme-ws';
/** Has no config file in the sandbox, and its default image acme-ws/widget-api exists on the Docker Hub simulator. */
const SLUG = 'widget-api';
const DEFAULT_IMAGE = 'acme-ws/widget-api';
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const FIVE_MB = 5 * 1024 * 1024;

describe('config file end to end', () => {
  let hubData: TemporaryDirectory;
  let env: PanelEnvironment;
  let elsewhere: CountingServer;

  beforeAll(async () => {
    elsewhere = await startCountingServer();
    hubData = createHubDataDir([
      { namespace: 'examplens', name: 'override', pullCount: 1234, starCount: 3 },
      { namespace: 'examplens', name: 'app', pullCount: 72673, starCount: 7 },
      { namespace: 'examplens', name: 'one', pullCount: 11, starCount: 1 },
    ]);
    env = await startPanelEnvironment({ hubDataDir: hubData.path });
  });
  beforeEach(async () => {
    env.resetSimulators();
    await env.purgeCache();
  });
  afterAll(async () => {
    await env?.stop();
    await elsewhere?.close();
    hubData?.remove();
  });

  async function viewWithFile(bytes: Buffer | string) {
    env.bitbucket.setFile(WORKSPACE, SLUG, CONFIG_FILE, Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'utf8'));
    return env.view(SLUG);
  }

  function hubPaths(): string[] {
    return env.hub.requests().map((request) => request.path);
  }

  test.each([
    ['0 bytes', ''],
    ['one newline', '\n'],
    ['comment only', '# repository: examplens/app\n'],
    ['key without value', 'repository:\n'],
    ['value that is a comment', 'repository: # TODO\n'],
    ['tilde value', 'repository: ~\n'],
    ['empty quoted value', 'repository: ""\n'],
    ['document marker only', '---\n'],
  ])('%s uses default image', async (_name, body) => {
    const { status, page } = await viewWithFile(body);

    expect(status).toBe(200);
    expect(page.state).toBe('ready');
    expect(page.image?.reference).toBe(DEFAULT_IMAGE);
    expect(page.image?.defaultName).toBe(true);
    expect(noticeTexts(page, 'error')).toEqual([]);
    expect(hubPaths().filter((path) => !path.startsWith(`/v2/repositories/${DEFAULT_IMAGE}/`))).toEqual([]);
    expect(hubPaths().filter((path) => /#|~|null|%23|%7e|\/\//i.test(path))).toEqual([]);
  });

  test.each([
    ['before the key', Buffer.concat([BOM, Buffer.from('repository: examplens/override\n')])],
    ['before a document marker', Buffer.concat([BOM, Buffer.from('---\nrepository: examplens/override\n')])],
    ['before a comment', Buffer.concat([BOM, Buffer.from('# comment\nrepository: examplens/override\n')])],
    [
      'after a document marker',
      Buffer.concat([Buffer.from('---\n'), BOM, Buffer.from('repository: examplens/override\n')]),
    ],
  ])('byte order mark %s is ignored', async (_name, bytes) => {
    const { page } = await viewWithFile(bytes);

    expect(page.state).toBe('ready');
    expect(page.image?.reference).toBe('examplens/override');
    expect(page.stats.pulls?.title).toBe('1,234');
    expect(noticeTexts(page, 'warning')).toEqual([]);
  });

  test.each([
    ['list', '- repository: examplens/app\n', 1, 'it must be a mapping'],
    ['bare scalar', 'examplens/app\n', 1, 'it must be a mapping'],
    ['number value', 'repository: 12345\n', 1, '"repository" must be text'],
    ['list value', 'repository: [examplens/a, examplens/b]\n', 1, '"repository" must be text'],
    ['tab indentation', 'docker:\n\trepository: examplens/app\n', 2, 'not valid YAML'],
    ['unclosed quote', 'repository: "examplens/app\n', 1, 'not valid YAML'],
    ['duplicate key', 'repository: examplens/one\nrepository: examplens/two\n', 2, 'duplicate'],
    ['two documents', 'repository: examplens/one\n---\nrepository: examplens/two\n', 3, 'YAML documents'],
  ])('%s names its line', async (_name, body, line, problem) => {
    const { status, page } = await viewWithFile(body);
    const errors = noticeTexts(page, 'error');

    expect(status).toBe(200);
    expect(page.state).toBe('config-error');
    expect(errors).toHaveLength(1);
    expect(errors[0].startsWith(`${CONFIG_FILE} line ${line}: `)).toBe(true);
    expect(errors[0]).toContain(problem);
    expect(hubPaths()).toEqual([]);
  });

  test.each([
    ['nested under docker', 'docker:\n  repository: examplens/app\n', 'docker'],
    ['capitalised key', 'Repository: examplens/app\n', 'Repository'],
    ['short key', 'repo: examplens/app\n', 'repo'],
  ])('%s gets a hint', async (_name, body, key) => {
    const { page } = await viewWithFile(body);

    expect(page.state).toBe('ready');
    expect(noticeTexts(page, 'warning')).toEqual([
      `${CONFIG_FILE} line 1: unknown key "${key}" is ignored; did you mean "repository"?`,
    ]);
    expect(page.image?.reference).toBe(DEFAULT_IMAGE);
    expect(page.image?.defaultName).toBe(true);
  });

  test('tab after colon is valid', async () => {
    const { page } = await viewWithFile('repository:\texamplens/app\n');

    expect(page.state).toBe('ready');
    expect(page.image?.reference).toBe('examplens/app');
    expect(page.stats.pulls?.text).toBe('72.7k');
  });

  test('comment before document marker is valid', async () => {
    const { page } = await viewWithFile('# header\n---\nrepository: examplens/one\n');

    expect(page.state).toBe('ready');
    expect(page.image?.reference).toBe('examplens/one');
  });

  test.each([
    ['short name', 'nginx'],
    ['underscore namespace', '_/nginx'],
    ['library namespace', 'library/nginx'],
    ['hub page address', 'https://hub.docker.com/_/nginx'],
  ])('official image as %s', async (_name, value) => {
    const { page } = await viewWithFile(`repository: ${value}\n`);

    expect(page.image?.reference).toBe('library/nginx');
    expect(page.image?.href).toBe(`${env.hub.url}/_/nginx`);
    expect(page.stats.pulls?.text).toBe('12.9B');
    expect(env.hub.requestCount(/^\/v2\/repositories\/library\/nginx\/$/)).toBe(1);
    expect(env.hub.requestCount(/^\/v2\/repositories\/library\/nginx\/tags\/$/)).toBe(1);
    expect(env.hub.requestCount(/^\/v2\/repositories\/library\/nginx\/buildhistory\/$/)).toBe(1);
    expect(env.hub.requests()).toHaveLength(3);
  });

  test('other registry is rejected', async () => {
    const { page } = await viewWithFile('repository: ghcr.io/x/y\n');
    const errors = noticeTexts(page, 'error');

    expect(page.state).toBe('config-error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(`${CONFIG_FILE} line 1:`);
    expect(errors[0]).toContain('only Docker Hub images are supported, not ghcr.io');
    expect(env.hub.requests()).toEqual([]);
  });

  test.each([
    ['UTF-16LE with BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('repository: examplens/app\n', 'utf16le')])],
    ['Latin-1', Buffer.concat([Buffer.from('repository: examplens/caf'), Buffer.from([0xe9, 0x0a])])],
  ])('%s asks for UTF-8', async (_name, bytes) => {
    const { page } = await viewWithFile(bytes);
    const errors = noticeTexts(page, 'error');

    expect(page.state).toBe('config-error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(CONFIG_FILE);
    expect(errors[0]).toContain('UTF-8');
    expect(hubPaths().filter((path) => /[^\x21-\x7e]|%[89a-f][0-9a-f]|%ef%bf%bd/i.test(path))).toEqual([]);
    expect(hubPaths()).toEqual([]);
  });

  test('5 MB file is reported', async () => {
    const comments = '# padding line for a large config file\n'.repeat(Math.ceil(FIVE_MB / 40));
    const { status, page } = await viewWithFile(`${comments}repository: examplens/app\n`);
    const errors = noticeTexts(page, 'error');

    expect(status).toBe(200);
    expect(page.state).toBe('config-error');
    expect(errors).toEqual([`${CONFIG_FILE}: the file is larger than 64 KiB`]);
    expect(env.hub.requests()).toEqual([]);
  });

  test('5 MB chunked body is cut off', async () => {
    env.bitbucket.setFault(`/src/main/${CONFIG_FILE}`, { kind: 'huge', bytes: FIVE_MB });
    const { status, page } = await env.view(SLUG);
    const fileReads = env.bitbucket.requests().filter((request) => request.path.endsWith(`/${CONFIG_FILE}`));

    expect(status).toBe(200);
    expect(page.state).toBe('config-error');
    expect(noticeTexts(page, 'error')).toEqual([`${CONFIG_FILE}: the file is larger than 64 KiB`]);
    expect(fileReads).toHaveLength(1);
    // The simulator sets a status only once a response is completely sent, so none means the add-on closed the connection early.
    expect(fileReads[0].status).toBeUndefined();
  });

  test('redirect to another host is not followed', async () => {
    env.bitbucket.setFile(WORKSPACE, SLUG, CONFIG_FILE, Buffer.from('repository: examplens/app\n'));
    env.bitbucket.setRedirect(WORKSPACE, SLUG, CONFIG_FILE, `${elsewhere.url}/media/config`);
    try {
      const { page } = await env.view(SLUG);
      const errors = noticeTexts(page, 'error');

      expect(page.state).toBe('config-error');
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain('Git LFS');
      expect(elsewhere.requests()).toEqual([]);
      expect(env.hub.requests()).toEqual([]);
    } finally {
      env.bitbucket.setRedirect(WORKSPACE, SLUG, CONFIG_FILE, null);
    }
  });

  test('unknown key markup is escaped', async () => {
    const { html, page } = await viewWithFile('"<img src=x onerror=alert(1)>": 1\nrepository: examplens/app\n');

    expect(page.image?.reference).toBe('examplens/app');
    expect(noticeTexts(page, 'warning')[0]).toContain('unknown key "<img src=x onerror=alert(1)>" is ignored');
    expect(html).not.toContain('<img');
  });
});
