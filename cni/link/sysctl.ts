// Forwarding for a gateway bridge, as the reference plugin enables it. /proc/sys/net is per
// network namespace (that of the process opening it), so this changes the namespace the plugin
// runs in, which is the node's.
import { readFileSync, writeFileSync } from 'node:fs';
import type { Family } from '../../lib/ip.js';

const paths: Record<Family, string> = {
  4: '/proc/sys/net/ipv4/ip_forward',
  6: '/proc/sys/net/ipv6/conf/all/forwarding',
};

export function enableForwarding(families: Iterable<Family>): void {
  for (const f of new Set(families)) {
    const p = paths[f];
    if (readFileSync(p, 'utf8').trim() !== '1') writeFileSync(p, '1');
  }
}
