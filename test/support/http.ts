/** One HTTP GET to a loopback server under test, as text. */
import http from 'node:http';

/**
 * GET http://127.0.0.1:PORT/PATH on a connection of its own (no keep-alive agent, unlike fetch):
 * nothing stays open that would hold up the server's own close, which the suites time.
 */
export function getOnce(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      })
      .on('error', reject);
  });
}
