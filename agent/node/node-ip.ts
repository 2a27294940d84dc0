// The node's InternalIP when --node-ip is not given: the IPv4 address of the interface that
// carries the default route, which is the address other machines reach this one by. (kubelet
// first resolves the hostname; on Vagrant VMs and emulated nodes the hostname often resolves to
// 127.0.1.1, so the default route is the better first guess here. --node-ip overrides it.)
import { readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';

/** The interface of the first default route in /proc/net/route text, if any. */
export function defaultRouteInterface(procNetRoute: string): string | undefined {
  for (const line of procNetRoute.split('\n').slice(1)) {
    const [iface, destination, , , , , , mask] = line.trim().split(/\s+/);
    if (iface && destination === '00000000' && mask === '00000000') return iface;
  }
  return undefined;
}

export async function detectNodeIP(): Promise<string | undefined> {
  const routes = await readFile('/proc/net/route', 'utf8').catch(() => '');
  const iface = defaultRouteInterface(routes);
  if (!iface) return undefined;
  return networkInterfaces()[iface]?.find((a) => a.family === 'IPv4' && !a.internal)?.address;
}
