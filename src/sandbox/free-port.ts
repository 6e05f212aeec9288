import net from 'node:net';

/**
 * Returns a TCP port on 127.0.0.1 that was free a moment ago. Another process can
 * take it before the caller binds it, which is acceptable for the demo, tests and
 * benchmarks that use this.
 */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
