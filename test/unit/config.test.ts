import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('loadConfig accepted the environment');
}

describe('loadConfig', () => {
  test('defaults in development', () => {
    const config = loadConfig({}, '/srv/addon');

    expect(config.environment).toBe('development');
    expect(config.port).toBe(3000);
    expect(config.localBaseUrl).toBe('http://localhost:3000');
    expect(config.basePath).toBe('');
    expect(config.database).toEqual({ kind: 'sqlite', file: path.join('/srv/addon', 'data', 'tenants.sqlite') });
    expect(config.dockerHubUrl).toBe('https://hub.docker.com');
    expect(config.allowLoopbackHosts).toBe(true);
    expect(config.verifyInstallWithBitbucket).toBe(false);
  });

  test('production tightens install checks', () => {
    const config = loadConfig({ NODE_ENV: 'production', AC_LOCAL_BASE_URL: 'https://addon.example.test' });

    expect(config.allowLoopbackHosts).toBe(false);
    expect(config.verifyInstallWithBitbucket).toBe(true);
  });

  test('base URL keeps path, drops slash', () => {
    const config = loadConfig({ AC_LOCAL_BASE_URL: 'https://addon.example.test/docker-addon/' });

    expect(config.localBaseUrl).toBe('https://addon.example.test/docker-addon');
    expect(config.basePath).toBe('/docker-addon');
  });

  test('database URL forms', () => {
    expect(loadConfig({ DATABASE_URL: 'sqlite:db/t.sqlite' }, '/srv').database).toEqual({
      kind: 'sqlite',
      file: '/srv/db/t.sqlite',
    });
    expect(loadConfig({ DATABASE_URL: 'sqlite::memory:' }).database).toEqual({ kind: 'sqlite', file: ':memory:' });
    expect(loadConfig({ DATABASE_URL: 'postgres://u@h:5432/d' }).database).toEqual({
      kind: 'postgres',
      url: 'postgres://u@h:5432/d',
    });
  });

  test.each([
    [{ PORT: '0' }, 'PORT="0"'],
    [{ PORT: '0x50' }, 'PORT="0x50"'],
    [{ PORT: '1e3' }, 'PORT="1e3"'],
    [{ PORT: 'abc' }, 'a whole number from 1 to 65535'],
    [{ AC_LOCAL_BASE_URL: 'javascript:alert(1)' }, 'AC_LOCAL_BASE_URL'],
    [{ AC_LOCAL_BASE_URL: 'ftp://addon.example.test' }, 'an http:// or https:// URL'],
    [{ DOCKER_HUB_URL: 'ftp://hub.example.test' }, 'DOCKER_HUB_URL'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ REDIS_URL: 'http://x' }, 'REDIS_URL'],
    [{ NODE_ENV: 'staging' }, 'NODE_ENV'],
    [{ NODE_ENV: 'production' }, 'Missing environment variable AC_LOCAL_BASE_URL'],
    [{ NODE_ENV: 'production', AC_LOCAL_BASE_URL: 'http://addon.example.test' }, 'https:// URL in production'],
    [{ NODE_ENV: 'production', AC_LOCAL_BASE_URL: 'https://a.example.test', INSTALL_ALLOW_LOOPBACK: 'true' }, 'INSTALL_ALLOW_LOOPBACK'],
    [{ AC_LOCAL_BASE_URL: 'https://addon.example.test/?x=1' }, 'without query'],
    [{ AC_APP_KEY: 'has space' }, 'AC_APP_KEY'],
  ])('rejects %j', (env, expected) => {
    expect(configError(env as Record<string, string>)).toContain(expected);
  });
});
