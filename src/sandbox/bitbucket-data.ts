/**
 * Workspaces and repositories of the Bitbucket simulator, read from sandbox/bitbucket:
 *
 *   <workspace>/workspace.json              uuid, name, installer account
 *   <workspace>/<repo>/repository.json      uuid, main branch, head commit, build statuses, redirects
 *   <workspace>/<repo>/files/...            the files of the head commit, served byte for byte
 *
 * Each simulator loads its own copy, so changes that a test makes through one
 * simulator (setFile, setMainBranch, ...) stay within that simulator.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

const accountSchema = z.object({
  uuid: z.string().regex(/^\{[0-9a-f-]{36}\}$/),
  account_id: z.string(),
  display_name: z.string(),
});

const workspaceFileSchema = z.object({
  uuid: z.string().regex(/^\{[0-9a-f-]{36}\}$/),
  name: z.string(),
  /** The user account that installs the add-on; sent as `actor` in the install payload. */
  installer: accountSchema,
});

const statusSchema = z.object({
  key: z.string(),
  name: z.string(),
  state: z.enum(['SUCCESSFUL', 'FAILED', 'INPROGRESS', 'STOPPED']),
  /** Absolute URL, or a path that is resolved against the simulator's web URL. */
  url: z.string(),
  description: z.string(),
  created_on: z.string(),
  updated_on: z.string(),
});

const repositoryFileSchema = z.object({
  uuid: z.string().regex(/^\{[0-9a-f-]{36}\}$/),
  name: z.string(),
  description: z.string(),
  is_private: z.boolean(),
  language: z.string(),
  created_on: z.string(),
  updated_on: z.string(),
  /** Null for a repository without commits. */
  mainbranch: z.string().min(1).nullable(),
  head: z
    .object({
      hash: z.string().regex(/^[0-9a-f]{40}$/),
      message: z.string(),
      date: z.string(),
      author: z.string(),
    })
    .nullable(),
  statuses: z.array(statusSchema),
  /** Map from file path to redirect location. The API responds with 301 for these, as Bitbucket does for Git LFS. */
  redirects: z.record(z.string()).optional(),
});

export type AccountRecord = z.infer<typeof accountSchema>;
export type CommitStatusRecord = z.infer<typeof statusSchema>;

export interface HeadCommit {
  hash: string;
  message: string;
  date: string;
  author: string;
}

export interface RepositoryRecord {
  workspace: string;
  slug: string;
  uuid: string;
  name: string;
  description: string;
  isPrivate: boolean;
  language: string;
  createdOn: string;
  updatedOn: string;
  /** Null when the repository has no commits. */
  mainBranch: string | null;
  /** Head of the main branch; kept while mainBranch is null so that setMainBranch can restore it. */
  head: HeadCommit;
  statuses: CommitStatusRecord[];
  /** Files of the head commit by path relative to the repository root, e.g. "src/index.ts". */
  files: Map<string, Buffer>;
  redirects: Map<string, string>;
}

export interface WorkspaceRecord {
  slug: string;
  uuid: string;
  name: string;
  installer: AccountRecord;
  repositories: Map<string, RepositoryRecord>;
}

/** Bounds on the data directory walk; the sandbox has a few hundred files at most. */
const MAX_FILES_PER_REPOSITORY = 2000;
const MAX_DIRECTORY_DEPTH = 12;

export class BitbucketData {
  private constructor(private readonly workspaceMap: Map<string, WorkspaceRecord>) {}

  /**
   * Reads all workspaces under `dataDir`.
   *
   * @throws Error naming the file when a workspace.json or repository.json is invalid.
   */
  static load(dataDir: string): BitbucketData {
    const workspaces = new Map<string, WorkspaceRecord>();
    for (const slug of fs.readdirSync(dataDir).sort()) {
      const workspaceDir = path.join(dataDir, slug);
      const workspaceFile = path.join(workspaceDir, 'workspace.json');
      if (!fs.statSync(workspaceDir).isDirectory() || !fs.existsSync(workspaceFile)) {
        continue;
      }
      const workspace = parseFile(workspaceFile, workspaceFileSchema);
      const record: WorkspaceRecord = { slug, ...workspace, repositories: new Map() };
      for (const repoSlug of fs.readdirSync(workspaceDir).sort()) {
        const repositoryFile = path.join(workspaceDir, repoSlug, 'repository.json');
        if (fs.existsSync(repositoryFile)) {
          record.repositories.set(repoSlug, loadRepository(slug, repoSlug, path.join(workspaceDir, repoSlug)));
        }
      }
      workspaces.set(slug, record);
    }
    return new BitbucketData(workspaces);
  }

  workspaces(): WorkspaceRecord[] {
    return [...this.workspaceMap.values()];
  }

  /** Finds a workspace by slug or by `{uuid}` (braces included, hex case ignored). */
  findWorkspace(reference: string): WorkspaceRecord | undefined {
    if (isUuidReference(reference)) {
      return this.workspaces().find((workspace) => workspace.uuid === reference.toLowerCase());
    }
    return this.workspaceMap.get(reference);
  }

  /** Finds a repository of a workspace by slug or by `{uuid}`. */
  findRepository(workspace: WorkspaceRecord, reference: string): RepositoryRecord | undefined {
    if (isUuidReference(reference)) {
      return [...workspace.repositories.values()].find((repository) => repository.uuid === reference.toLowerCase());
    }
    return workspace.repositories.get(reference);
  }

  requireWorkspace(slug: string): WorkspaceRecord {
    const workspace = this.workspaceMap.get(slug);
    if (!workspace) {
      const known = [...this.workspaceMap.keys()].join(', ');
      throw new Error(`Unknown sandbox workspace "${slug}": expected one of ${known}`);
    }
    return workspace;
  }

  requireRepository(workspaceSlug: string, repositorySlug: string): RepositoryRecord {
    const repository = this.requireWorkspace(workspaceSlug).repositories.get(repositorySlug);
    if (!repository) {
      throw new Error(`Unknown sandbox repository "${workspaceSlug}/${repositorySlug}"`);
    }
    return repository;
  }
}

/** True for `{...}` references, which Bitbucket reads as UUIDs rather than slugs. */
export function isUuidReference(reference: string): boolean {
  return reference.startsWith('{') && reference.endsWith('}');
}

function loadRepository(workspace: string, slug: string, directory: string): RepositoryRecord {
  const file = parseFile(path.join(directory, 'repository.json'), repositoryFileSchema);
  return {
    workspace,
    slug,
    uuid: file.uuid,
    name: file.name,
    description: file.description,
    isPrivate: file.is_private,
    language: file.language,
    createdOn: file.created_on,
    updatedOn: file.updated_on,
    mainBranch: file.mainbranch,
    head: file.head ?? placeholderHead(workspace, slug, file.updated_on),
    statuses: file.statuses,
    files: readFiles(path.join(directory, 'files')),
    redirects: new Map(Object.entries(file.redirects ?? {})),
  };
}

/** Returns a stable made-up head for a repository without commits, used once setMainBranch gives it a branch. */
function placeholderHead(workspace: string, slug: string, date: string): HeadCommit {
  const hash = crypto.createHash('sha1').update(`${workspace}/${slug}:initial`).digest('hex');
  return { hash, message: 'Initial commit\n', date, author: 'Sandbox <sandbox@example.invalid>' };
}

function readFiles(root: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  if (!fs.existsSync(root)) {
    return files;
  }
  const pending: Array<{ directory: string; depth: number }> = [{ directory: root, depth: 0 }];
  while (pending.length > 0) {
    const { directory, depth } = pending.pop()!;
    for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
      const fullPath = path.join(directory, entry.name);
      if (entry.isDirectory() && depth < MAX_DIRECTORY_DEPTH) {
        pending.push({ directory: fullPath, depth: depth + 1 });
      } else if (entry.isFile()) {
        if (files.size >= MAX_FILES_PER_REPOSITORY) {
          throw new Error(`Too many files under ${root}: the limit is ${MAX_FILES_PER_REPOSITORY}`);
        }
        files.set(path.relative(root, fullPath).split(path.sep).join('/'), fs.readFileSync(fullPath));
      }
    }
  }
  return files;
}

function parseFile<T>(file: string, schema: z.ZodType<T>): T {
  try {
    return schema.parse(JSON.parse(fs.readFileSync(file, 'utf8')));
  } catch (error) {
    throw new Error(`Invalid sandbox data file ${file}: ${(error as Error).message}`);
  }
}
