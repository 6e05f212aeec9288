/**
 * Temporary data directories for the simulators, for cases the checked-in
 * sandbox does not contain: extra Docker Hub images, and Bitbucket workspaces
 * or repositories whose names have upper-case letters, dots or underscores.
 * Each directory starts as a copy, so the files under sandbox/ stay unchanged.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { LoopbackServer, startLoopbackServer } from '../../src/sandbox/loopback-server';

const SANDBOX_DIR = path.join(__dirname, '..', '..', 'sandbox');

export interface TemporaryDirectory {
  path: string;
  remove(): void;
}

export interface ExtraHubImage {
  namespace: string;
  name: string;
  pullCount: number;
  starCount: number;
}

/** Copies sandbox/docker-hub and adds one public image per entry, each with a single `latest` tag. */
export function createHubDataDir(images: ExtraHubImage[]): TemporaryDirectory {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-data-'));
  fs.cpSync(path.join(SANDBOX_DIR, 'docker-hub'), root, { recursive: true });
  for (const image of images) {
    const directory = path.join(root, 'images', image.namespace);
    fs.mkdirSync(directory, { recursive: true });
    fs.writeFileSync(path.join(directory, `${image.name}.json`), JSON.stringify(hubImageFile(image), null, 2));
  }
  return temporaryDirectory(root);
}

function hubImageFile(image: ExtraHubImage) {
  const pushed = '2026-09-01T10:00:00.000000Z';
  return {
    repository: {
      user: image.namespace,
      name: image.name,
      namespace: image.namespace,
      repository_type: 'image',
      status: 1,
      description: `Test image ${image.namespace}/${image.name}`,
      is_private: false,
      is_automated: false,
      star_count: image.starCount,
      pull_count: image.pullCount,
      last_updated: pushed,
      date_registered: '2020-01-01T00:00:00Z',
    },
    tags: [
      {
        name: 'latest',
        full_size: 12_345_678,
        last_updated: pushed,
        tag_last_pushed: pushed,
        images: [{ architecture: 'amd64', os: 'linux', size: 12_345_678 }],
      },
    ],
  };
}

export interface ExtraRepository {
  /** Directory name, which the simulator uses as the slug in URLs and in `full_name`. */
  slug: string;
  uuid: string;
  /** Bytes of `.docker-repository.yml`, or undefined for a repository without the file. */
  configFile?: Buffer;
}

/**
 * Creates a Bitbucket data directory with one workspace named `workspaceSlug`
 * (its workspace.json copied from acme-ws) and one repository per entry, each
 * modelled on acme-ws/widget-api.
 */
export function createBitbucketDataDir(workspaceSlug: string, repositories: ExtraRepository[]): TemporaryDirectory {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bitbucket-data-'));
  const source = path.join(SANDBOX_DIR, 'bitbucket', 'acme-ws');
  const workspaceDir = path.join(root, workspaceSlug);
  fs.mkdirSync(workspaceDir);
  fs.copyFileSync(path.join(source, 'workspace.json'), path.join(workspaceDir, 'workspace.json'));
  const template = JSON.parse(fs.readFileSync(path.join(source, 'widget-api', 'repository.json'), 'utf8'));
  for (const repository of repositories) {
    const repositoryDir = path.join(workspaceDir, repository.slug);
    fs.mkdirSync(path.join(repositoryDir, 'files'), { recursive: true });
    const record = { ...template, uuid: repository.uuid, name: repository.slug, statuses: [] };
    fs.writeFileSync(path.join(repositoryDir, 'repository.json'), JSON.stringify(record, null, 2));
    fs.writeFileSync(path.join(repositoryDir, 'files', 'README.md'), `# ${repository.slug}\n`);
    if (repository.configFile !== undefined) {
      fs.writeFileSync(path.join(repositoryDir, 'files', '.docker-repository.yml'), repository.configFile);
    }
  }
  return temporaryDirectory(root);
}

function temporaryDirectory(root: string): TemporaryDirectory {
  return { path: root, remove: () => fs.rmSync(root, { recursive: true, force: true }) };
}

export interface CountingServer {
  url: string;
  /** Requests received since the server started, as "METHOD path". */
  requests(): string[];
  close(): Promise<void>;
}

/** Starts a loopback server that returns 200 to every request and records it, to prove that nothing was sent there. */
export async function startCountingServer(): Promise<CountingServer> {
  const received: string[] = [];
  const server: LoopbackServer = await startLoopbackServer((request: http.IncomingMessage, response: http.ServerResponse) => {
    received.push(`${request.method} ${request.url}`);
    response.end('repository: examplens/app\n');
  });
  return { url: server.url, requests: () => [...received], close: () => server.close() };
}
