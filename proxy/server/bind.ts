// "host:port" bind addresses as kube-proxy's flags take them ("0.0.0.0:10256", ":10249").
import { createServer, type RequestListener, type Server } from 'node:http';

export function parseBindAddress(flag: string, value: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) throw new Error(`--${flag}: ${JSON.stringify(value)} is not host:port`);
  const host = m[1]!.replace(/^\[(.*)\]$/, '$1') || '0.0.0.0';
  return { host, port };
}

export function listen(handler: RequestListener, host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer(handler);
    srv.once('error', reject);
    srv.listen(port, host, () => {
      srv.off('error', reject);
      resolve(srv);
    });
  });
}

export function close(srv: Server): Promise<void> {
  return new Promise((resolve) => {
    srv.closeAllConnections?.();
    srv.close(() => resolve());
  });
}
