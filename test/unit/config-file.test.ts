import { ConfigFileResult, parseConfigFile } from '../../src/core/config-file';

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

function utf8(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

function expectValid(result: ConfigFileResult) {
  expect(result.kind).toBe('valid');
  if (result.kind !== 'valid') {
    throw new Error(`expected a valid result, got: ${result.problem}`);
  }
  return result;
}

function expectInvalid(result: ConfigFileResult) {
  expect(result.kind).toBe('invalid');
  if (result.kind !== 'invalid') {
    throw new Error(`expected an invalid result, got: ${JSON.stringify(result)}`);
  }
  return result;
}

describe('parseConfigFile default image', () => {
  test.each([
    ['empty file', ''],
    ['single newline', '\n'],
    ['comment only', '# repository: examplens/app\n'],
    ['key without value', 'repository:\n'],
    ['value that is a comment', 'repository: # TODO\n'],
    ['tilde null value', 'repository: ~\n'],
    ['empty quoted value', 'repository: ""\n'],
    ['document marker only', '---\n'],
  ])('%s uses the default', (_label, text) => {
    const result = expectValid(parseConfigFile(utf8(text)));

    expect(result.image).toBeUndefined();
  });
});

describe('parseConfigFile byte order mark', () => {
  test.each([
    ['before the key', Buffer.concat([BOM, utf8('repository: examplens/override\n')])],
    ['before document marker', Buffer.concat([BOM, utf8('---\nrepository: examplens/override\n')])],
    ['before a comment', Buffer.concat([BOM, utf8('# comment\nrepository: examplens/override\n')])],
    ['after document marker', Buffer.concat([utf8('---\n'), BOM, utf8('repository: examplens/override\n')])],
  ])('%s is ignored', (_label, bytes) => {
    const result = expectValid(parseConfigFile(bytes));

    expect(result.image).toEqual({ namespace: 'examplens', name: 'override' });
  });
});

describe('parseConfigFile wrong shape', () => {
  test('list document is invalid', () => {
    const result = expectInvalid(parseConfigFile(utf8('- repository: examplens/app\n')));

    expect(result.problem).toContain('list');
    expect(result.line).toBe(1);
  });

  test('bare scalar is invalid', () => {
    const result = expectInvalid(parseConfigFile(utf8('examplens/app\n')));

    expect(result.problem).toContain('repository: namespace/name');
    expect(result.line).toBe(1);
  });

  test('numeric value is invalid', () => {
    const result = expectInvalid(parseConfigFile(utf8('repository: 12345\n')));

    expect(result.problem).toContain('"repository"');
    expect(result.problem).toContain('number');
    expect(result.line).toBe(1);
  });

  test('list value is invalid', () => {
    const result = expectInvalid(parseConfigFile(utf8('repository: [examplens/a, examplens/b]\n')));

    expect(result.problem).toContain('"repository"');
    expect(result.problem).toContain('list');
    expect(result.line).toBe(1);
  });

  test('tab indentation is invalid', () => {
    const result = expectInvalid(parseConfigFile(utf8('docker:\n\trepository: examplens/app\n')));

    expect(result.problem).toContain('tab');
    expect(result.line).toBe(2);
  });

  // The quote opens on line 1, the only line of the file.
  test('unclosed quote points at its line', () => {
    const result = expectInvalid(parseConfigFile(utf8('repository: "examplens/app\n')));

    expect(result.problem).toContain('quoted');
    expect(result.line).toBe(1);
  });

  test('tab after the colon is valid', () => {
    const result = expectValid(parseConfigFile(utf8('repository:\texamplens/app\n')));

    expect(result.image).toEqual({ namespace: 'examplens', name: 'app' });
  });
});

describe('parseConfigFile misplaced key', () => {
  test.each([
    ['nested under docker', 'docker:\n  repository: examplens/app\n'],
    ['capitalised key', 'Repository: examplens/app\n'],
    ['abbreviated key', 'repo: examplens/app\n'],
  ])('%s suggests repository', (_label, text) => {
    const result = expectValid(parseConfigFile(utf8(text)));

    expect(result.image).toBeUndefined();
    expect(result.notes).toHaveLength(1);
    expect(result.notes[0].message).toContain('did you mean "repository"');
    expect(result.notes[0].line).toBe(1);
  });

  test('unrelated key has no suggestion', () => {
    const result = expectValid(parseConfigFile(utf8('owner: examplens\nrepository: examplens/app\n')));

    expect(result.image).toEqual({ namespace: 'examplens', name: 'app' });
    expect(result.notes).toHaveLength(1);
    expect(result.notes[0].message).toContain('"owner"');
    expect(result.notes[0].message).not.toContain('did you mean');
  });
});

describe('parseConfigFile duplicates and documents', () => {
  test('duplicate key is invalid', () => {
    const result = expectInvalid(parseConfigFile(utf8('repository: examplens/one\nrepository: examplens/two\n')));

    expect(result.problem).toContain('duplicate');
    expect(result.line).toBe(2);
  });

  // Line 3 is where the content of the second document starts.
  test('two documents are invalid', () => {
    const result = expectInvalid(parseConfigFile(utf8('repository: examplens/one\n---\nrepository: examplens/two\n')));

    expect(result.problem).toMatch(/\b2 (YAML )?documents\b/);
    expect(result.line).toBe(3);
  });

  test('comment before marker is one document', () => {
    const result = expectValid(parseConfigFile(utf8('# header\n---\nrepository: examplens/one\n')));

    expect(result.image).toEqual({ namespace: 'examplens', name: 'one' });
  });
});

describe('parseConfigFile image value', () => {
  test('upper case value adds a note', () => {
    const result = expectValid(parseConfigFile(utf8('repository: ExampleNS/App\n')));

    expect(result.image).toEqual({ namespace: 'examplens', name: 'app' });
    expect(result.notes).toHaveLength(1);
    expect(result.notes[0].message).toContain('lower case');
    expect(result.notes[0].line).toBe(1);
  });

  test.each([
    ['bare name', 'repository: nginx\n'],
    ['underscore namespace', 'repository: _/nginx\n'],
    ['library namespace', 'repository: library/nginx\n'],
  ])('official %s reads library/nginx', (_label, text) => {
    const result = expectValid(parseConfigFile(utf8(text)));

    expect(result.image).toEqual({ namespace: 'library', name: 'nginx' });
  });

  test('other registry is invalid', () => {
    const result = expectInvalid(parseConfigFile(utf8('owner: x\nrepository: ghcr.io/examplens/app\n')));

    expect(result.problem).toContain('ghcr.io/examplens/app');
    expect(result.line).toBe(2);
  });

  test('replacement character is invalid', () => {
    const result = expectInvalid(parseConfigFile(utf8('repository: examplens/caf\uFFFD\n')));

    expect(result.problem).toContain('ASCII');
    expect(result.line).toBe(1);
  });

  test('Git LFS pointer is invalid', () => {
    const pointer = 'version https://git-lfs.github.com/spec/v1\noid sha256:' + '0'.repeat(64) + '\nsize 40\n';
    const result = expectInvalid(parseConfigFile(utf8(pointer)));

    expect(result.problem).toContain('Git LFS');
  });
});

describe('parseConfigFile encoding', () => {
  test('UTF-16LE with BOM is invalid', () => {
    const bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('repository: examplens/app\n', 'utf16le')]);
    const result = expectInvalid(parseConfigFile(bytes));

    expect(result.problem).toContain('UTF-8');
  });

  test('Latin-1 byte is invalid', () => {
    const bytes = Buffer.concat([utf8('repository: examplens/caf'), Buffer.from([0xe9]), utf8('\n')]);
    const result = expectInvalid(parseConfigFile(bytes));

    expect(result.problem).toContain('UTF-8');
  });

  test('invalid UTF-8 sequence is invalid', () => {
    const bytes = Buffer.concat([utf8('repository: examplens/'), Buffer.from([0xc3, 0x28, 0xff]), utf8('\n')]);
    const result = expectInvalid(parseConfigFile(bytes));

    expect(result.problem).toContain('UTF-8');
  });
});

/** Builds a "billion laughs" document: each key aliases the previous one nine times. */
function aliasBomb(): string {
  const lines = ['a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let level = 1; level <= 12; level += 1) {
    const previous = `*a${level - 1}`;
    lines.push(`a${level}: &a${level} [${Array(9).fill(previous).join(', ')}]`);
  }
  lines.push('repository: *a12');
  return `${lines.join('\n')}\n`;
}

function manyKeys(): string {
  const lines = Array.from({ length: 4000 }, (_, index) => `key${index}: value`);
  return `${lines.join('\n')}\nrepository: examplens/app\n`;
}

describe('parseConfigFile hostile input', () => {
  const hostileInputs: Array<[string, string]> = [
    ['deeply nested flow lists', '['.repeat(60 * 1024)],
    ['alias bomb', aliasBomb()],
    ['64 KiB single line', `repository: ${'a'.repeat(64 * 1024 - 'repository: '.length)}`],
    ['many keys', manyKeys()],
  ];

  test('hostile inputs stay under 64 KiB', () => {
    for (const [, text] of hostileInputs) {
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(64 * 1024);
    }
  });

  test.each(hostileInputs)('%s returns a result', (_label, text) => {
    const result = parseConfigFile(utf8(text));

    expect(['valid', 'invalid']).toContain(result.kind);
  });
});
