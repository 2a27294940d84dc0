// Names and hardware addresses derived from the attachment (network, container ID, ifname).
// Deterministic on purpose: DEL can find the host-side veth and the iptables chain of an
// attachment without any state, even after the pod's namespace is gone. Pure.

/** 64-bit FNV-1a as 16 hex characters (two 32-bit lanes; no crypto module to load). */
export function hash64(...parts: string[]): string {
  let a = 0x811c9dc5,
    b = 0x01000193 ^ 0x5bd1e995;
  const s = parts.join('\0');
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (a >>> 15);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

export interface AttachmentNames {
  /** Host end of the veth pair: "veth" + 8 hex (12 characters, under Linux's 15). */
  hostVeth: string;
  /** Per-attachment nat chain for ipMasq (iptables allows 28 characters). */
  masqChain: string;
  /** Comment on every ipMasq rule: names network, container and interface, as the reference plugin does. */
  masqComment: string;
  containerMac: string;
  hostMac: string;
}

/** A locally administered unicast MAC from 40 bits of hash. */
export function macFrom(hex: string): string {
  const bytes = ['02', hex.slice(0, 2), hex.slice(2, 4), hex.slice(4, 6), hex.slice(6, 8), hex.slice(8, 10)];
  return bytes.join(':');
}

export function attachmentNames(network: string, containerId: string, ifName: string): AttachmentNames {
  const h = hash64(network, containerId, ifName);
  return {
    hostVeth: `veth${h.slice(0, 8)}`,
    masqChain: `KUBENODE-BR-${h.slice(0, 12).toUpperCase()}`,
    // Quotes and backslashes would need escaping in iptables-restore input; ifnames may hold them.
    masqComment: `kubenode-bridge net=${network} id=${containerId} if=${ifName.replace(/["\\]/g, '_')}`,
    containerMac: macFrom(hash64('container', network, containerId, ifName)),
    hostMac: macFrom(hash64('host', network, containerId, ifName)),
  };
}

/** The bridge's own MAC, fixed at creation so it does not follow its ports' (the kernel would
 * otherwise use the lowest port MAC, changing the gateway's MAC as pods come and go). */
export function bridgeMac(bridge: string, salt: string): string {
  return macFrom(hash64('bridge', bridge, salt));
}
