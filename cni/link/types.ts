// The host-link interface and its data, shared by its two implementations (host.ts: iproute2,
// host-netlink.ts: netlink), which host.ts chooses between.
import type { CIDR } from '../../lib/ip.js';

export interface PortPlan {
  bridge: string;
  bridgeMac: string;
  mtu?: number;
  promisc: boolean;
  /** Gateway addresses for the bridge (isGateway). */
  gateways: CIDR[];
  /** The host end of the pod's veth, already in our namespace. */
  port: string;
  hairpin: boolean;
}

export interface BridgeState {
  mac: string;
  addrs: CIDR[];
}

export interface HostLinks {
  /** Ensure the bridge (created if missing, gateways, up) and attach the port to it. */
  attachPort(p: PortPlan): Promise<BridgeState>;
  deleteAddrs(bridge: string, addrs: CIDR[]): Promise<void>;
  /** Delete a link; false if there was none. */
  deleteLink(name: string): Promise<boolean>;
}
