/**
 * A real ClientHello as Node's TLS client writes it: captured by a plain TCP server on 127.0.0.1 that keeps
 * the first record (the client's handshake then fails, which is fine).
 */
import { type AddressInfo, createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** The first TLS record a client sends (its ClientHello), once it has fully arrived. */
export async function captureHello(alpn?: string[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let received: (hello: Buffer) => void = () => {};
  const hello = new Promise<Buffer>((resolve) => {
    received = resolve;
  });
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const all = Buffer.concat(chunks);
      if (all.length >= 5 && all.length >= 5 + all.readUInt16BE(3)) {
        received(all);
        socket.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const client = tlsConnect({
    host: '127.0.0.1',
    port,
    rejectUnauthorized: false,
    ...(alpn ? { ALPNProtocols: alpn } : {}),
  });
  client.on('error', () => {});
  try {
    return await hello;
  } finally {
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
