/**
 * Start-up of the compiled server: clear messages for a taken port and a bad
 * store, and a descriptor built from the normalised base URL even when the raw
 * environment variable has a trailing slash.
 */
import net from 'node:net';
import { AddonProcess, compiledServerExists, freePort, startAddonProcess, stopAddonProcess } from '../helpers/process';
import { requireOrSkip } from '../helpers/services';

const describeWithBuild = requireOrSkip(compiledServerExists(), 'dist/src/server.js is missing; run npm run build (npm test does)');

describeWithBuild('server start-up', () => {
  let addon: AddonProcess | undefined;

  afterEach(async () => {
    await stopAddonProcess(addon);
    addon = undefined;
  });

  test('descriptor ignores trailing slash', async () => {
    const port = await freePort();
    addon = await startAddonProcess(
      { DATABASE_URL: 'sqlite::memory:', AC_LOCAL_BASE_URL: `http://127.0.0.1:${port}/docker-addon/` },
      port,
    );
    const response = await fetch(`http://127.0.0.1:${port}/docker-addon/atlassian-connect.json`);
    const descriptor = (await response.json()) as { baseUrl: string };
    const text = JSON.stringify(descriptor);

    expect(response.status).toBe(200);
    expect(descriptor.baseUrl).toBe(`http://127.0.0.1:${port}/docker-addon`);
    expect(text.replace(/https?:\/\//g, '')).not.toContain('//');
  });

  test('taken port named in error', async () => {
    const sockets = new Set<net.Socket>();
    const blocker = net.createServer((socket) => sockets.add(socket));
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, resolve));
    try {
      const failure = await startAddonProcess({ DATABASE_URL: 'sqlite::memory:' }, port).then(
        () => undefined,
        (error: Error) => error.message,
      );

      expect(failure).toContain(`Port ${port} is already in use`);
      expect(failure).not.toMatch(/\n\s+at /);
    } finally {
      sockets.forEach((socket) => socket.destroy());
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  test('missing sqlite folder named', async () => {
    const failure = await startAddonProcess({ DATABASE_URL: 'sqlite:/nonexistent-folder-for-test/t.sqlite' }).then(
      () => undefined,
      (error: Error) => error.message,
    );

    expect(failure).toContain('DATABASE_URL');
    expect(failure).toContain('/nonexistent-folder-for-test');
  });

  test('unreachable PostgreSQL named', async () => {
    const closedPort = await freePort();
    const failure = await startAddonProcess({ DATABASE_URL: `postgres://u@127.0.0.1:${closedPort}/d` }).then(
      () => undefined,
      (error: Error) => error.message,
    );

    expect(failure).toContain('DATABASE_URL');
    expect(failure).toContain('PostgreSQL');
  });
});
