import { dockerHubPagePath, InvalidImageReference, parseImageReference } from '../../src/core/image-ref';

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

function rejectionOf(input: string): InvalidImageReference {
  try {
    parseImageReference(input);
  } catch (error) {
    if (error instanceof InvalidImageReference) {
      return error;
    }
    throw error;
  }
  throw new Error(`expected "${input}" to be rejected`);
}

describe('parseImageReference accepted', () => {
  test.each([
    ['nginx', 'library', 'nginx'],
    ['_/nginx', 'library', 'nginx'],
    ['library/nginx', 'library', 'nginx'],
    ['docker.io/library/nginx', 'library', 'nginx'],
    ['docker.io/nginx', 'library', 'nginx'],
    ['index.docker.io/x/y', 'x', 'y'],
    ['https://hub.docker.com/_/nginx', 'library', 'nginx'],
    ['https://hub.docker.com/r/examplens/app', 'examplens', 'app'],
    ['https://hub.docker.com/r/examplens/app/tags', 'examplens', 'app'],
    ['examplens/app:1.2', 'examplens', 'app'],
    [`examplens/app@${DIGEST}`, 'examplens', 'app'],
    ['ExampleNS/App', 'examplens', 'app'],
    ['rwgrim/package_cloud', 'rwgrim', 'package_cloud'],
    ['acme-ws/widget.api_v2', 'acme-ws', 'widget.api_v2'],
    ['Acme-WS/Widget.API_v2', 'acme-ws', 'widget.api_v2'],
    [`acme-ws/${'s'.repeat(62)}`, 'acme-ws', 's'.repeat(62)],
  ])('%s is accepted', (input, namespace, name) => {
    expect(parseImageReference(input)).toEqual({ namespace, name });
  });
});

describe('parseImageReference rejected', () => {
  const longName = `ns/${'a'.repeat(297)}`;

  // The message shows the value with non-ASCII characters as "?" and cuts it after 77 characters.
  test.each([
    ['ghcr.io host', 'ghcr.io/x/y', '"ghcr.io/x/y"'],
    ['quay.io host', 'quay.io/x/y', '"quay.io/x/y"'],
    ['three components', 'a/b/c', '"a/b/c"'],
    ['parent directory', '../etc', '"../etc"'],
    ['space in name', 'ns/na me', '"ns/na me"'],
    ['query string', 'ns/name?x=1', '"ns/name?x=1"'],
    ['fragment', 'ns/name#x', '"ns/name#x"'],
    ['non-ASCII letter', 'ns/caf\u00e9', '"ns/caf?"'],
    ['empty name', 'ns/', '"ns/"'],
    ['empty namespace', '/name', '"/name"'],
    ['double slash', 'ns//name', '"ns//name"'],
    ['foreign URL', 'http://evil.example/x', '"http://evil.example/x"'],
    ['300-character name', longName, `"${longName.slice(0, 77)}..."`],
    ['space in tag', 'ns/name:bad tag', '"ns/name:bad tag"'],
    ['javascript URL', 'javascript:alert(1)', '"javascript:alert(1)"'],
  ])('%s is rejected', (_label, input, quotedInMessage) => {
    const error = rejectionOf(input);

    expect(error.value).toBe(input);
    expect(error.message).toContain(quotedInMessage);
  });
});

describe('dockerHubPagePath', () => {
  test('official image uses underscore path', () => {
    expect(dockerHubPagePath({ namespace: 'library', name: 'nginx' })).toBe('/_/nginx');
  });

  test('other image uses r path', () => {
    expect(dockerHubPagePath({ namespace: 'examplens', name: 'app' })).toBe('/r/examplens/app');
  });
});
