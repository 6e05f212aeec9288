/**
 * Docker Hub image references: what users paste into `.docker-repository.yml`,
 * mapped to the `namespace/name` pair that the Docker Hub API takes.
 */

export interface ImageRef {
  namespace: string;
  name: string;
}

export class InvalidImageReference extends Error {
  constructor(
    readonly value: string,
    readonly reason: string,
  ) {
    super(`"${truncateForMessage(value)}" is not a Docker Hub image: ${reason}`);
    this.name = 'InvalidImageReference';
  }
}

/** Hosts that serve Docker Hub images; `docker pull` treats a reference without a host as docker.io. */
const DOCKER_HUB_REGISTRY_HOSTS = new Set([
  'docker.io',
  'index.docker.io',
  'registry-1.docker.io',
  'registry.hub.docker.com',
]);
const DOCKER_HUB_WEB_HOST = 'hub.docker.com';

// A path component as the distribution reference grammar defines it: lowercase
// alphanumerics joined by one period, one or two underscores, or dashes.
const COMPONENT_PATTERN = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_PATTERN = /^[\w][\w.-]{0,127}$/;
const DIGEST_PATTERN = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const MAX_REFERENCE_LENGTH = 255;
const OFFICIAL_NAMESPACE = 'library';

/**
 * Parses an image reference the way `docker pull` reads it for Docker Hub, plus the
 * hub.docker.com page URLs people copy from the browser.
 *
 * Accepted: `nginx`, `_/nginx`, `library/nginx`, `ns/name`, `ns/name:tag`,
 * `ns/name@sha256:…`, `docker.io/ns/name`, `https://hub.docker.com/r/ns/name`,
 * `https://hub.docker.com/_/nginx`. Upper-case letters are folded to lower case
 * because Docker Hub names are lower case. Tags and digests are dropped.
 *
 * @throws InvalidImageReference naming the value and the problem.
 */
export function parseImageReference(input: string): ImageRef {
  const value = input.trim();
  if (value === '') {
    throw new InvalidImageReference(input, 'the value is empty');
  }
  if (value.length > MAX_REFERENCE_LENGTH + 30) {
    throw new InvalidImageReference(input, `it is longer than ${MAX_REFERENCE_LENGTH} characters`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(value)) {
    throw new InvalidImageReference(input, 'it contains white space or control characters');
  }
  if (/[^\x21-\x7e]/.test(value)) {
    throw new InvalidImageReference(input, 'it contains characters outside ASCII');
  }

  const path = value.includes('://') ? pathFromWebUrl(input, value) : stripRegistryHost(input, value);
  const withoutDigest = stripDigest(input, path);
  const components = stripTag(input, withoutDigest).split('/');
  return toNamespaceAndName(input, components);
}

/** Returns the hub.docker.com page of an image: `/_/name` for official images. */
export function dockerHubPagePath(image: ImageRef): string {
  if (image.namespace === OFFICIAL_NAMESPACE) {
    return `/_/${image.name}`;
  }
  return `/r/${image.namespace}/${image.name}`;
}

export function formatImageRef(image: ImageRef): string {
  return `${image.namespace}/${image.name}`;
}

export function isOfficialImage(image: ImageRef): boolean {
  return image.namespace === OFFICIAL_NAMESPACE;
}

function pathFromWebUrl(input: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidImageReference(input, 'it looks like a URL but cannot be parsed');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new InvalidImageReference(input, `the scheme ${url.protocol} is not supported`);
  }
  const host = url.hostname.toLowerCase();
  const segments = url.pathname.split('/').filter((segment) => segment !== '');
  if (host === DOCKER_HUB_WEB_HOST) {
    // Page URLs: /_/nginx, /r/ns/name, /r/ns/name/tags, /repository/docker/ns/name
    if (segments[0] === '_' && segments.length >= 2) {
      return `library/${segments[1]}`;
    }
    if (segments[0] === 'r' && segments.length >= 3) {
      return `${segments[1]}/${segments[2]}`;
    }
    if (segments[0] === 'repository' && segments[1] === 'docker' && segments.length >= 4) {
      return `${segments[2]}/${segments[3]}`;
    }
    throw new InvalidImageReference(input, 'it is a hub.docker.com address but not an image page');
  }
  if (DOCKER_HUB_REGISTRY_HOSTS.has(host)) {
    return segments.join('/');
  }
  throw new InvalidImageReference(input, `only Docker Hub images are supported, not ${host}`);
}

function stripRegistryHost(input: string, value: string): string {
  const slash = value.indexOf('/');
  if (slash === -1) {
    return value;
  }
  const first = value.slice(0, slash);
  // docker pull treats the first component as a host when it has a dot or a port, or is localhost.
  const looksLikeHost = first.includes('.') || first.includes(':') || first === 'localhost';
  if (!looksLikeHost) {
    return value;
  }
  if (first.toLowerCase() === DOCKER_HUB_WEB_HOST) {
    // A page address pasted without its scheme.
    return pathFromWebUrl(input, `https://${value}`);
  }
  if (DOCKER_HUB_REGISTRY_HOSTS.has(first.toLowerCase())) {
    return value.slice(slash + 1);
  }
  throw new InvalidImageReference(input, `only Docker Hub images are supported, not ${first}`);
}

function stripDigest(input: string, path: string): string {
  const at = path.indexOf('@');
  if (at === -1) {
    return path;
  }
  if (!DIGEST_PATTERN.test(path.slice(at + 1))) {
    throw new InvalidImageReference(input, 'the digest after "@" is malformed');
  }
  return path.slice(0, at);
}

function stripTag(input: string, path: string): string {
  const lastSlash = path.lastIndexOf('/');
  const colon = path.indexOf(':', lastSlash + 1);
  if (colon === -1) {
    return path;
  }
  if (!TAG_PATTERN.test(path.slice(colon + 1))) {
    throw new InvalidImageReference(input, 'the tag after ":" is malformed');
  }
  return path.slice(0, colon);
}

function toNamespaceAndName(input: string, rawComponents: string[]): ImageRef {
  const components = rawComponents.map((component) => component.toLowerCase());
  if (components.length === 1) {
    components.unshift(OFFICIAL_NAMESPACE);
  }
  if (components.length !== 2) {
    throw new InvalidImageReference(input, 'Docker Hub images have the form namespace/name');
  }
  const [rawNamespace, name] = components;
  const namespace = rawNamespace === '_' ? OFFICIAL_NAMESPACE : rawNamespace;
  for (const [label, component] of [
    ['namespace', namespace],
    ['name', name],
  ]) {
    if (!COMPONENT_PATTERN.test(component)) {
      throw new InvalidImageReference(
        input,
        `the ${label} "${truncateForMessage(component)}" may contain only lowercase letters, digits and . _ - between them`,
      );
    }
  }
  if (namespace.length + 1 + name.length > MAX_REFERENCE_LENGTH) {
    throw new InvalidImageReference(input, `it is longer than ${MAX_REFERENCE_LENGTH} characters`);
  }
  return { namespace, name };
}

function truncateForMessage(value: string): string {
  const printable = value.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > 80 ? `${printable.slice(0, 77)}...` : printable;
}
