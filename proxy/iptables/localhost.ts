// --iptables-localhost-nodeports (upstream's iptables.localhostNodePorts, default true): NodePorts
// answer on 127.0.0.1 too. That takes route_localnet=1, so that a packet from 127.0.0.1 DNATed to
// a pod may leave the loopback interface, and the KUBE-FIREWALL rule that makes route_localnet
// safe (static-rules.ts).
import { containsAddress, type IPv4Network } from '../../lib/ip.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { errorMessage } from '../../lib/errors.js';

export const ROUTE_LOCALNET = '/proc/sys/net/ipv4/conf/all/route_localnet';

/**
 * Whether localhost NodePorts are in effect: the flag, and 127.0.0.1 among the addresses NodePorts
 * answer on (every address when --nodeport-addresses is empty), as upstream's NewProxier decides.
 */
export function localhostNodePortsInEffect(flag: boolean, nodePortCIDRs: readonly IPv4Network[]): boolean {
  return flag && (nodePortCIDRs.length === 0 || nodePortCIDRs.some((c) => containsAddress(c, '127.0.0.1')));
}

/**
 * Sets route_localnet=1 (per network namespace), as upstream does at start. Failing here is
 * fatal, as upstream's: NodePorts on 127.0.0.1 would silently not work.
 */
export function enableRouteLocalnet(path = ROUTE_LOCALNET): void {
  if (!existsSync(path))
    throw new Error(
      `--iptables-localhost-nodeports: ${path} does not exist (no IPv4 in this kernel?); pass --iptables-localhost-nodeports=false`,
    );
  if (readFileSync(path, 'utf8').trim() === '1') return;
  try {
    writeFileSync(path, '1');
  } catch (e) {
    throw new Error(
      `--iptables-localhost-nodeports: cannot set ${path} to 1 (${errorMessage(e)}); run as root or pass --iptables-localhost-nodeports=false`,
    );
  }
}
