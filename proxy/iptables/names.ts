// Chain names as upstream kube-proxy makes them (pkg/proxy/iptables/proxier.go portProtoHash,
// servicePortEndpointChainName): a prefix plus the first 16 characters of the base32 (RFC 4648,
// standard alphabet) of sha256(servicePortName + protocol [+ endpoint]). Same inputs, same names,
// so `iptables-save` from kubenode and from kube-proxy can be compared line by line.
import { createHash } from 'node:crypto';
import type { Protocol } from '../model/types.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32(buf: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** 16 base32 characters are 80 bits: the first 10 bytes of the digest are all we encode. */
function hash16(s: string): string {
  const d = createHash('sha256').update(s).digest();
  let out = '';
  for (let i = 0; i < 10; i += 5) {
    // 5 bytes = 40 bits = 8 characters; numbers stay exact below 2^53.
    let v = d[i]! * 2 ** 32 + ((d[i + 1]! << 24) >>> 0) + (d[i + 2]! << 16) + (d[i + 3]! << 8) + d[i + 4]!;
    let chunk = '';
    for (let k = 0; k < 8; k++) {
      chunk = ALPHABET[v % 32]! + chunk;
      v = Math.floor(v / 32);
    }
    out += chunk;
  }
  return out;
}

/** The hash shared by a Service port's SVC, SVL, EXT and FW chains. */
export function portProtoHash(servicePortName: string, protocol: Protocol): string {
  return hash16(servicePortName + protocol.toLowerCase());
}

/** KUBE-SVC-*: the Service port's "Cluster" traffic policy chain. */
export const svcChain = (spn: string, proto: Protocol) => `KUBE-SVC-${portProtoHash(spn, proto)}`;
/** KUBE-SVL-*: the Service port's "Local" traffic policy chain (this node's endpoints). */
export const svlChain = (spn: string, proto: Protocol) => `KUBE-SVL-${portProtoHash(spn, proto)}`;
/** KUBE-EXT-*: traffic from NodePorts, externalIPs and load balancer IPs. */
export const extChain = (spn: string, proto: Protocol) => `KUBE-EXT-${portProtoHash(spn, proto)}`;
/** KUBE-FW-*: loadBalancerSourceRanges filtering. */
export const fwChain = (spn: string, proto: Protocol) => `KUBE-FW-${portProtoHash(spn, proto)}`;
/** KUBE-SEP-*: one endpoint ("ip:port") of one Service port. */
export const sepChain = (spn: string, proto: Protocol, endpoint: string) =>
  `KUBE-SEP-${hash16(spn + proto.toLowerCase() + endpoint)}`;

/** Chains named per Service port or endpoint: ours to create and delete. */
export const SERVICE_CHAIN_PREFIXES = ['KUBE-SVC-', 'KUBE-SVL-', 'KUBE-EXT-', 'KUBE-FW-', 'KUBE-SEP-'] as const;

export function isServiceChain(name: string): boolean {
  return SERVICE_CHAIN_PREFIXES.some((p) => name.startsWith(p));
}
