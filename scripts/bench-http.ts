// HTTP load for the benches: one request per new connection, N at a time.
import { request } from 'node:http';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';

export function fetchOnce(host: string, port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, agent: false }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => resolve(n));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export async function requestsPerSecond(host: string, port: number, ms = 2000, concurrency = 8): Promise<number> {
  let done = 0;
  const until = performance.now() + ms;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < until) {
      await fetchOnce(host, port, '/index.html');
      done++;
    }
  }));
  return done / (ms / 1000);
}

export async function throughput(host: string, port: number): Promise<number> {
  const t = performance.now();
  let bytes = 0;
  for (let i = 0; i < 3; i++) bytes += await fetchOnce(host, port, '/big');
  return bytes / 1e6 / ((performance.now() - t) / 1000);
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
