// KUBENODE_CNI_TRACE=1 prints, on stderr, milliseconds since the process started at each step of
// a command, to see where a plugin call spends its time (Node.js start, IPAM, each iproute2
// process). Off by default and free when off.
import { writeSync } from 'node:fs';

const on = !!process.env.KUBENODE_CNI_TRACE;

export function trace(step: string): void {
  if (on) writeSync(2, `kubenode-cni trace ${(process.uptime() * 1000).toFixed(2)} ms ${step}\n`);
}
