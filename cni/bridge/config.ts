// kubenode-bridge's configuration: the reference bridge plugin's fields, with the same meaning.
//   bridge            name of the Linux bridge (default "cni0")
//   isGateway         put the IPAM gateway address on the bridge (and enable forwarding)
//   isDefaultGateway  also route the pod's default route via that gateway (implies isGateway)
//   forceAddress      replace an older, different gateway address on the bridge
//   ipMasq            masquerade traffic leaving the pod network (iptables nat)
//   mtu               MTU of the bridge and both veth ends (kernel default when unset)
//   hairpinMode       hairpin on the bridge port, so a pod reaches itself through a Service IP.
//                     Default TRUE here (the reference defaults to false): Kubernetes needs it.
//   promiscMode       put the bridge in promiscuous mode
//   enabledad         keep IPv6 duplicate address detection on the pod interface
// Fields of the reference plugin we do not implement (vlan, vlanTrunk, macspoofchk,
// disableContainerInterface, portIsolation, ipMasqBackend other than iptables) are refused with
// the spec's "unsupported field" error when set to anything but their default. Pure.
import { ifNameProblem } from '../skel/env.js';
import type { NetConf } from '../skel/netconf.js';
import { CniError, ErrorCode, invalidConfig } from '../spec/errors.js';

export interface BridgeConf {
  bridge: string;
  isGateway: boolean;
  isDefaultGateway: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  mtu?: number;
  hairpinMode: boolean;
  promiscMode: boolean;
  enableDad: boolean;
  /** A MAC for the pod interface asked for by runtimeConfig.mac, args.cni.mac or CNI_ARGS MAC. */
  mac?: string;
}

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

function bool(raw: Record<string, unknown>, key: string, dflt: boolean): boolean {
  const v = raw[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw invalidConfig(key, `must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

const unsupported = (key: string, value: unknown) =>
  new CniError(
    ErrorCode.UnsupportedField,
    'unsupported field in network configuration',
    `${key}=${JSON.stringify(value)}: kubenode-bridge does not implement it`,
  );

export function parseBridgeConf(conf: NetConf, cniArgs: Record<string, string>): BridgeConf {
  const raw = conf.raw;
  const bridge = raw.bridge === undefined || raw.bridge === null || raw.bridge === '' ? 'cni0' : raw.bridge;
  if (typeof bridge !== 'string') throw invalidConfig('bridge', `must be a string, got ${JSON.stringify(bridge)}`);
  const p = ifNameProblem(bridge);
  if (p) throw invalidConfig('bridge', p);

  if (raw.vlan !== undefined && raw.vlan !== null && raw.vlan !== 0) throw unsupported('vlan', raw.vlan);
  if (Array.isArray(raw.vlanTrunk) ? raw.vlanTrunk.length > 0 : raw.vlanTrunk !== undefined && raw.vlanTrunk !== null)
    throw unsupported('vlanTrunk', raw.vlanTrunk);
  for (const k of ['macspoofchk', 'disableContainerInterface', 'portIsolation'])
    if (raw[k] === true) throw unsupported(k, raw[k]);
  if (raw.ipMasqBackend !== undefined && raw.ipMasqBackend !== null && raw.ipMasqBackend !== 'iptables')
    throw unsupported('ipMasqBackend', raw.ipMasqBackend);

  let mtu: number | undefined;
  if (raw.mtu !== undefined && raw.mtu !== null && raw.mtu !== 0) {
    if (typeof raw.mtu !== 'number' || !Number.isInteger(raw.mtu) || raw.mtu < 68 || raw.mtu > 65535) {
      throw invalidConfig('mtu', `must be an integer between 68 and 65535, got ${JSON.stringify(raw.mtu)}`);
    }
    mtu = raw.mtu;
  }
  const isDefaultGateway = bool(raw, 'isDefaultGateway', false);

  // Precedence as in the reference plugin: CNI_ARGS, then args.cni.mac, then runtimeConfig.mac.
  let mac: unknown = cniArgs.MAC || undefined;
  const argsCni = conf.args.cni as Record<string, unknown> | undefined;
  if (argsCni && typeof argsCni === 'object' && argsCni.mac) mac = argsCni.mac;
  if (conf.runtimeConfig.mac) mac = conf.runtimeConfig.mac;
  if (mac !== undefined && (typeof mac !== 'string' || !MAC.test(mac)))
    throw invalidConfig('mac', `${JSON.stringify(mac)} is not a MAC address`);

  return {
    bridge,
    isGateway: bool(raw, 'isGateway', false) || isDefaultGateway,
    isDefaultGateway,
    forceAddress: bool(raw, 'forceAddress', false),
    ipMasq: bool(raw, 'ipMasq', false),
    ...(mtu ? { mtu } : {}),
    hairpinMode: bool(raw, 'hairpinMode', true),
    promiscMode: bool(raw, 'promiscMode', false),
    enableDad: bool(raw, 'enabledad', false),
    ...(mac ? { mac: (mac as string).toLowerCase() } : {}),
  };
}
