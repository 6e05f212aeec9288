/**
 * The Connect side of the Bitbucket simulator: it reads the add-on's descriptor,
 * sends the `installed` and `uninstalled` lifecycle callbacks, keeps one tenant
 * per installed workspace and builds the signed iframe URLs of web panels.
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import { BitbucketData, RepositoryRecord, WorkspaceRecord } from './bitbucket-data';
import { repositoryJson, SimulatorUrls, teamAccountJson, workspaceJson } from './bitbucket-json';
import { HOST_TOKEN_LIFETIME_SECONDS, pathRelativeToBase, signHostToken } from './bitbucket-jwt';
import { httpRequest } from './http-request';
import { assertLoopbackUrl } from './loopback-server';

export const REPOSITORY_OVERVIEW_PANEL_LOCATION = 'org.bitbucket.repository.overview.informationPanel';

const webPanelSchema = z
  .object({
    key: z.string().min(1),
    location: z.string(),
    url: z.string().min(1),
    name: z.object({ value: z.string().optional() }).passthrough().optional(),
    weight: z.number().optional(),
  })
  .passthrough();

const descriptorSchema = z
  .object({
    key: z.string().min(1),
    name: z.string().optional(),
    baseUrl: z.string().url(),
    scopes: z.array(z.string()).optional(),
    lifecycle: z
      .object({ installed: z.string().optional(), uninstalled: z.string().optional() })
      .passthrough()
      .optional(),
    modules: z.object({ webPanels: z.array(webPanelSchema).optional() }).passthrough().optional(),
  })
  .passthrough();

export type AddonDescriptor = z.infer<typeof descriptorSchema>;
export type WebPanel = z.infer<typeof webPanelSchema>;

export interface Tenant {
  workspace: string;
  clientKey: string;
  sharedSecret: string;
  /** The descriptor `key` at install time; API calls must carry it as `iss`. */
  appKey: string;
  /** Descriptor read at install time; later changes to it take effect at the next install. */
  descriptor: AddonDescriptor;
  installedAt: Date;
}

export interface InstallOptions {
  /** The new shared secret to send; default 32 random bytes, base64url-encoded (43 characters). */
  sharedSecret?: string;
  /**
   * Secret that signs the callback. By default it is the previous secret of this
   * workspace, if any, and an unsigned callback otherwise. null sends it unsigned.
   */
  signWith?: string | null;
}

export interface InstallResult {
  clientKey: string;
  sharedSecret: string;
}

export interface PanelUrlOptions {
  /** Seconds from `iat` to `exp`; default 180. Negative values give an already expired token. */
  expiresInSeconds?: number;
  /** `iat` in epoch seconds; default now. */
  issuedAt?: number;
  /** Signs with this secret instead of the tenant's. */
  secret?: string;
  /** Replaces the computed query string hash. */
  qsh?: string;
  omitQsh?: boolean;
  omitExp?: boolean;
  /** Puts this value in `iss` and `aud` instead of the tenant's clientKey. */
  clientKey?: string;
  /** Web panel key; default the first repository overview panel by weight. */
  panelKey?: string;
}

export interface PanelFrame {
  key: string;
  name: string;
  url: string;
  /** Origin of the add-on, which the overview page accepts resize messages from. */
  origin: string;
}

const DESCRIPTOR_TIMEOUT_MS = 5_000;
const LIFECYCLE_TIMEOUT_MS = 10_000;
const MAX_DESCRIPTOR_BYTES = 1024 * 1024;
/** Characters of an add-on error response quoted in an install error. */
const MAX_QUOTED_BODY_CHARS = 500;

export class ConnectHost {
  private readonly tenants = new Map<string, Tenant>();
  /** Installs whose callback is under way; Bitbucket accepts the new secret on its API during the callback. */
  private readonly pending = new Map<string, Tenant>();
  /** Secrets of uninstalled workspaces: Bitbucket signs the next install with them. */
  private readonly retiredSecrets = new Map<string, string>();
  private readonly publicKey = createPublicKey();

  constructor(
    private readonly data: BitbucketData,
    private readonly urls: SimulatorUrls,
    private readonly addonBaseUrl: string,
    private readonly expectedAppKey: string | undefined,
  ) {}

  tenant(workspace: string): Tenant | undefined {
    return this.tenants.get(workspace);
  }

  tenantByClientKey(clientKey: string): Tenant | undefined {
    const matches = (tenant: Tenant) => tenant.clientKey === clientKey;
    return [...this.pending.values()].find(matches) ?? [...this.tenants.values()].find(matches);
  }

  /**
   * Installs the add-on on a workspace: fetches the descriptor and POSTs the
   * `installed` payload to its lifecycle URL. A reinstall, and the first install
   * after an uninstall, is signed with the previous shared secret and rotates it.
   *
   * @throws Error when the descriptor is invalid or the add-on responds with a status other than 2xx.
   */
  async install(workspaceSlug: string, options: InstallOptions = {}): Promise<InstallResult> {
    const workspace = this.data.requireWorkspace(workspaceSlug);
    const descriptor = await this.fetchDescriptor();
    if (this.expectedAppKey !== undefined && descriptor.key !== this.expectedAppKey) {
      throw new Error(`Descriptor key "${descriptor.key}" does not match the expected appKey "${this.expectedAppKey}"`);
    }
    const lifecycleUrl = lifecycleTarget(descriptor, 'installed');
    const clientKey = clientKeyFor(workspace, descriptor.key);
    const sharedSecret = options.sharedSecret ?? crypto.randomBytes(32).toString('base64url');
    const previousSecret = this.tenants.get(workspace.slug)?.sharedSecret ?? this.retiredSecrets.get(workspace.slug);
    const signingSecret = options.signWith === undefined ? previousSecret : (options.signWith ?? undefined);

    const payload = {
      ...this.lifecyclePayload(workspace, descriptor.key, clientKey, 'installed'),
      sharedSecret,
      actor: { type: 'user', uuid: workspace.installer.uuid, account_id: workspace.installer.account_id },
    };
    const tenant = {
      workspace: workspace.slug,
      clientKey,
      sharedSecret,
      appKey: descriptor.key,
      descriptor,
      installedAt: new Date(),
    };
    this.pending.set(workspace.slug, tenant);
    try {
      await this.postLifecycle('install', lifecycleUrl, descriptor, payload, clientKey, signingSecret);
    } finally {
      this.pending.delete(workspace.slug);
    }

    this.tenants.set(workspace.slug, tenant);
    this.retiredSecrets.delete(workspace.slug);
    return { clientKey, sharedSecret };
  }

  /**
   * Sends the `uninstalled` callback signed with the current secret and removes
   * the tenant once the add-on responds with 2xx.
   *
   * @throws Error when the workspace is not installed or the add-on responds with a status other than 2xx.
   */
  async uninstall(workspaceSlug: string): Promise<void> {
    const workspace = this.data.requireWorkspace(workspaceSlug);
    const tenant = this.tenants.get(workspace.slug);
    if (!tenant) {
      throw new Error(`Cannot uninstall: the add-on is not installed on workspace "${workspace.slug}"`);
    }
    const lifecycleUrl = lifecycleTarget(tenant.descriptor, 'uninstalled');
    const payload = this.lifecyclePayload(workspace, tenant.appKey, tenant.clientKey, 'uninstalled');
    const { descriptor, clientKey, sharedSecret } = tenant;
    await this.postLifecycle('uninstall', lifecycleUrl, descriptor, payload, clientKey, sharedSecret);
    this.tenants.delete(workspace.slug);
    this.retiredSecrets.set(workspace.slug, tenant.sharedSecret);
  }

  /**
   * Returns the signed iframe URL of a web panel for a repository, as Bitbucket
   * renders it on the repository overview page.
   *
   * @throws Error when the workspace is not installed or the descriptor has no such panel.
   */
  panelUrl(workspaceSlug: string, repositorySlug: string, options: PanelUrlOptions = {}): string {
    const repository = this.data.requireRepository(workspaceSlug, repositorySlug);
    const tenant = this.tenants.get(workspaceSlug);
    if (!tenant) {
      throw new Error(`Cannot build a panel URL: the add-on is not installed on workspace "${workspaceSlug}"`);
    }
    const panels = overviewPanels(tenant.descriptor);
    const panel = options.panelKey === undefined ? panels[0] : panels.find((item) => item.key === options.panelKey);
    if (!panel) {
      const requested = options.panelKey === undefined ? '' : ` with key "${options.panelKey}"`;
      throw new Error(`The descriptor has no webPanel${requested} at location ${REPOSITORY_OVERVIEW_PANEL_LOCATION}`);
    }
    return this.signPanelUrl(tenant, panel, repository, options);
  }

  /** Returns every overview panel of the installed add-on with its signed URL; empty when not installed. */
  panelFrames(workspaceSlug: string, repositorySlug: string): PanelFrame[] {
    const tenant = this.tenants.get(workspaceSlug);
    if (!tenant) {
      return [];
    }
    const repository = this.data.requireRepository(workspaceSlug, repositorySlug);
    return overviewPanels(tenant.descriptor).map((panel) => {
      const url = this.signPanelUrl(tenant, panel, repository, {});
      return { key: panel.key, name: panel.name?.value ?? panel.key, url, origin: new URL(url).origin };
    });
  }

  private signPanelUrl(
    tenant: Tenant,
    panel: WebPanel,
    repository: RepositoryRecord,
    options: PanelUrlOptions,
  ): string {
    const workspace = this.data.requireWorkspace(repository.workspace);
    const context = this.panelContext(workspace, repository);
    const relativeUrl = substituteContext(panel.url, context, grantedContextFamilies(tenant.descriptor.scopes));
    const target = assertLoopbackUrl(joinAddonUrl(tenant.descriptor.baseUrl, relativeUrl), 'web panel URL');
    const token = signHostToken({
      clientKey: options.clientKey ?? tenant.clientKey,
      secret: options.secret ?? tenant.sharedSecret,
      method: 'GET',
      pathAndQuery: pathRelativeToBase(target, new URL(tenant.descriptor.baseUrl)),
      issuedAt: options.issuedAt,
      expiresInSeconds: options.expiresInSeconds ?? HOST_TOKEN_LIFETIME_SECONDS,
      qsh: options.qsh,
      omitQsh: options.omitQsh,
      omitExp: options.omitExp,
    });
    const separator = target.search ? '&' : '?';
    return `${target.origin}${target.pathname}${target.search}${separator}jwt=${token}${target.hash}`;
  }

  private panelContext(workspace: WorkspaceRecord, repository: RepositoryRecord): Record<string, unknown> {
    const installer = workspace.installer;
    return {
      repository: repositoryJson(repository, workspace, this.urls),
      workspace: workspaceJson(workspace, this.urls),
      principal: teamAccountJson(workspace, this.urls),
      user: {
        type: 'user',
        uuid: installer.uuid,
        account_id: installer.account_id,
        display_name: installer.display_name,
      },
    };
  }

  private lifecyclePayload(workspace: WorkspaceRecord, appKey: string, clientKey: string, eventType: string) {
    const account = teamAccountJson(workspace, this.urls);
    return {
      key: appKey,
      clientKey,
      publicKey: this.publicKey,
      baseUrl: this.urls.webUrl,
      baseApiUrl: this.urls.apiUrl,
      productType: 'bitbucket',
      eventType,
      principal: account,
      user: account,
    };
  }

  private async fetchDescriptor(): Promise<AddonDescriptor> {
    const url = `${this.addonBaseUrl.replace(/\/+$/, '')}/atlassian-connect.json`;
    const response = await httpRequest(url, {
      headers: { Accept: 'application/json' },
      timeoutMs: DESCRIPTOR_TIMEOUT_MS,
      maxBytes: MAX_DESCRIPTOR_BYTES,
    });
    if (response.status !== 200) {
      const detail = `GET ${url} returned ${response.status}: ${quote(response.body)}`;
      throw new Error(`Failed to read the add-on descriptor: ${detail}`);
    }
    let descriptor: AddonDescriptor;
    try {
      descriptor = descriptorSchema.parse(JSON.parse(response.body.toString('utf8')));
    } catch (error) {
      throw new Error(`Invalid add-on descriptor at ${url}: ${(error as Error).message}`);
    }
    assertLoopbackUrl(descriptor.baseUrl, 'descriptor baseUrl');
    return descriptor;
  }

  private async postLifecycle(
    action: string,
    url: string,
    descriptor: AddonDescriptor,
    payload: object,
    clientKey: string,
    signingSecret: string | undefined,
  ): Promise<void> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json' };
    if (signingSecret !== undefined) {
      const token = signHostToken({
        clientKey,
        secret: signingSecret,
        method: 'POST',
        pathAndQuery: pathRelativeToBase(new URL(url), new URL(descriptor.baseUrl)),
      });
      headers.Authorization = `JWT ${token}`;
    }
    const response = await httpRequest(url, {
      method: 'POST',
      headers,
      body: JSON.stringify(payload),
      timeoutMs: LIFECYCLE_TIMEOUT_MS,
    });
    if (response.status < 200 || response.status > 299) {
      const detail = `POST ${url} returned ${response.status}: ${quote(response.body)}`;
      throw new Error(`The add-on rejected the ${action}: ${detail}`);
    }
  }
}

/** Returns Bitbucket's clientKey for a workspace install, `ari:cloud:bitbucket::app/{<workspace-uuid>}/<key>`. */
export function clientKeyFor(workspace: WorkspaceRecord, appKey: string): string {
  return `ari:cloud:bitbucket::app/${workspace.uuid}/${appKey}`;
}

export function overviewPanels(descriptor: AddonDescriptor): WebPanel[] {
  return (descriptor.modules?.webPanels ?? [])
    .filter((panel) => panel.location === REPOSITORY_OVERVIEW_PANEL_LOCATION)
    .sort((a, b) => (a.weight ?? 100) - (b.weight ?? 100));
}

/** Joins a descriptor URL, relative to `baseUrl` (its path kept) or absolute, to a full URL. */
export function joinAddonUrl(baseUrl: string, url: string): string {
  if (/^https?:\/\//i.test(url)) {
    return url;
  }
  return `${baseUrl.replace(/\/+$/, '')}${url.startsWith('/') ? '' : '/'}${url}`;
}

function lifecycleTarget(descriptor: AddonDescriptor, event: 'installed' | 'uninstalled'): string {
  const url = descriptor.lifecycle?.[event];
  if (!url) {
    throw new Error(`The add-on descriptor has no lifecycle.${event} URL`);
  }
  return assertLoopbackUrl(joinAddonUrl(descriptor.baseUrl, url), `lifecycle.${event} URL`).toString();
}

/** Context parameter families and the scope each needs before Bitbucket substitutes it. */
const CONTEXT_FAMILY_SCOPES: Record<string, string> = {
  repository: 'repository',
  branch: 'repository',
  commit: 'repository',
  file: 'repository',
  directory: 'repository',
  user: 'account',
  target_user: 'account',
  workspace: 'account',
  principal: 'account',
  pullrequest: 'pullrequest',
};

/**
 * Returns the context families the descriptor's scopes allow. A descriptor
 * without `scopes` is treated as requesting all scopes; `repository:write` and
 * `repository:admin` are taken to include `repository`.
 */
function grantedContextFamilies(scopes: string[] | undefined): Set<string> {
  const families = Object.keys(CONTEXT_FAMILY_SCOPES);
  if (scopes === undefined) {
    return new Set(families);
  }
  const base = new Set(scopes.map((scope) => scope.split(':')[0]));
  return new Set(families.filter((family) => base.has(CONTEXT_FAMILY_SCOPES[family])));
}

/**
 * Replaces each `{family.path}` in a module URL with the URL-encoded context value.
 * NOTE: a parameter that is unknown, not a scalar, or not allowed by the scopes
 * becomes an empty string here. What Bitbucket puts there instead is not confirmed.
 */
export function substituteContext(template: string, context: Record<string, unknown>, families: Set<string>): string {
  return template.replace(/\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\}/g, (_placeholder, name: string) => {
    const [family, ...rest] = name.split('.');
    if (!families.has(family)) {
      return '';
    }
    let value: unknown = context[family];
    for (const key of rest) {
      value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
    }
    const scalar = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
    return scalar ? encodeURIComponent(String(value)) : '';
  });
}

function quote(body: Buffer): string {
  const text = body.toString('utf8');
  return text.length > MAX_QUOTED_BODY_CHARS ? `${text.slice(0, MAX_QUOTED_BODY_CHARS)}...` : text || '(empty body)';
}

let cachedPublicKey: string | undefined;

/** Returns an RSA public key (base64 DER), like the `publicKey` field Bitbucket sends; generated once per process. */
function createPublicKey(): string {
  cachedPublicKey ??= crypto
    .generateKeyPairSync('rsa', { modulusLength: 2048 })
    .publicKey.export({ type: 'spki', format: 'der' })
    .toString('base64');
  return cachedPublicKey;
}
