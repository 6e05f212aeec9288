/**
 * Generates simulator data for many repositories in a temporary directory, in the
 * layout sandbox/README.md describes: a Bitbucket workspace whose repositories each
 * commit a .docker-repository.yml naming an image, and a Docker Hub image file for
 * each image named.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface GeneratedData {
  root: string;
  bitbucketDataDir: string;
  hubDataDir: string;
  workspace: string;
  slugs: string[];
  /** Deletes the generated directory. */
  remove(): void;
}

const WORKSPACE = 'bench-ws';
const IMAGE_NAMESPACE = 'bench';
const TAGS_PER_IMAGE = 12;
const BASE_TIME = Date.parse('2026-11-01T00:00:00Z');
const HOUR_MS = 3600_000;

/** Writes `repositoryCount` repositories, where repository i names image i modulo `imageCount`. */
export function generateData(repositoryCount: number, imageCount: number): GeneratedData {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-data-'));
  const bitbucketDataDir = path.join(root, 'bitbucket');
  const hubDataDir = path.join(root, 'docker-hub');
  const workspaceDir = path.join(bitbucketDataDir, WORKSPACE);
  fs.mkdirSync(workspaceDir, { recursive: true });
  writeJson(path.join(workspaceDir, 'workspace.json'), {
    uuid: `{${crypto.randomUUID()}}`,
    name: 'Benchmark workspace',
    installer: { uuid: `{${crypto.randomUUID()}}`, account_id: '712020:bench-installer', display_name: 'Bench Installer' },
  });

  const imagesDir = path.join(hubDataDir, 'images', IMAGE_NAMESPACE);
  fs.mkdirSync(imagesDir, { recursive: true });
  for (let i = 0; i < imageCount; i += 1) {
    writeJson(path.join(imagesDir, `${imageName(i)}.json`), imageFile(i));
  }

  const slugs: string[] = [];
  for (let i = 0; i < repositoryCount; i += 1) {
    const slug = `repo-${String(i).padStart(4, '0')}`;
    slugs.push(slug);
    const repositoryDir = path.join(workspaceDir, slug);
    fs.mkdirSync(path.join(repositoryDir, 'files'), { recursive: true });
    writeJson(path.join(repositoryDir, 'repository.json'), repositoryFile(slug, i));
    fs.writeFileSync(path.join(repositoryDir, 'files', '.docker-repository.yml'), `repository: ${IMAGE_NAMESPACE}/${imageName(i % imageCount)}\n`);
  }

  return {
    root,
    bitbucketDataDir,
    hubDataDir,
    workspace: WORKSPACE,
    slugs,
    remove: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}

function imageName(index: number): string {
  return `image-${String(index).padStart(4, '0')}`;
}

function iso(time: number): string {
  return new Date(time).toISOString();
}

function repositoryFile(slug: string, index: number) {
  const updated = iso(BASE_TIME + index * HOUR_MS);
  return {
    uuid: `{${crypto.randomUUID()}}`,
    name: slug,
    description: `Generated repository ${index} for benchmarks`,
    is_private: true,
    language: 'go',
    created_on: iso(BASE_TIME - 365 * 24 * HOUR_MS),
    updated_on: updated,
    mainbranch: 'main',
    head: {
      hash: crypto.createHash('sha1').update(`${WORKSPACE}/${slug}`).digest('hex'),
      message: 'Update the service\n',
      date: updated,
      author: 'Bench Installer <bench@example.invalid>',
    },
    statuses: [
      {
        key: 'pipelines-build',
        name: `Pipeline #${index + 1}`,
        state: index % 5 === 0 ? 'FAILED' : 'SUCCESSFUL',
        url: `/${WORKSPACE}/${slug}/pipelines/results/${index + 1}`,
        description: 'Build finished',
        created_on: updated,
        updated_on: updated,
      },
    ],
  };
}

function imageFile(index: number) {
  const name = imageName(index);
  const tags = Array.from({ length: TAGS_PER_IMAGE }, (_, tagIndex) => {
    const pushed = iso(BASE_TIME + index * HOUR_MS + tagIndex * 24 * HOUR_MS);
    const architectures = tagIndex % 3 === 0 ? ['amd64'] : ['amd64', 'arm64'];
    const images = architectures.map((architecture, imageIndex) => ({
      architecture,
      os: 'linux',
      variant: architecture === 'arm64' ? 'v8' : null,
      digest: `sha256:${crypto.createHash('sha256').update(`${name}:${tagIndex}:${imageIndex}`).digest('hex')}`,
      size: 30_000_000 + index * 1000 + tagIndex * 100 + imageIndex,
      status: 'active',
      last_pushed: pushed,
    }));
    return {
      name: `1.${tagIndex}.0`,
      full_size: images.reduce((sum, image) => sum + image.size, 0),
      last_updated: pushed,
      tag_last_pushed: pushed,
      tag_status: 'active',
      images,
    };
  });
  return {
    repository: {
      user: IMAGE_NAMESPACE,
      name,
      namespace: IMAGE_NAMESPACE,
      repository_type: 'image',
      description: `Generated image ${index} for benchmarks`,
      is_private: false,
      is_automated: false,
      star_count: index % 200,
      pull_count: 1000 + index * 7919,
      last_updated: tags[tags.length - 1].last_updated,
      date_registered: iso(BASE_TIME - 365 * 24 * HOUR_MS),
    },
    tags,
  };
}

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}
