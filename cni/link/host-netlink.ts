// The host-side link operations through rtnetlink, with the `netlink` npm package (a native
// socket binding plus typed messages). Selected with KUBENODE_CNI_HOST_LINK=netlink; kept so
// bench/cni-latency can compare it with the iproute2 batch on every run. The package is not
// bundled (it has a native addon) and is loaded only when this backend is chosen.
import { nlattr } from '../../lib/netlink-attr.js';
import { formatCIDR, ipToBytes, type CIDR } from '../../lib/ip.js';
import { CniError, ErrorCode } from '../spec/errors.js';
import type { BridgeState, HostLinks, PortPlan } from './types.js';
import { errorMessage } from '../../lib/errors.js';

// rtnetlink constants (linux/if_link.h, linux/netlink.h) the package leaves as raw buffers.
const IFLA_INFO_KIND = 1,
  IFLA_INFO_SLAVE_KIND = 4,
  IFLA_INFO_SLAVE_DATA = 5,
  IFLA_BRPORT_MODE = 4;
const NLM_F_REPLACE = 0x100,
  NLM_F_EXCL = 0x200,
  NLM_F_CREATE = 0x400;
const AF_INET = 2,
  AF_INET6 = 10;

const cstr = (s: string) => Buffer.from(s + '\0');
const macBytes = (mac: string) => Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
const ipBytes = (c: CIDR): Buffer => ipToBytes(c.ip);

const errno = (e: unknown) => /Request rejected: (\w+)/.exec(errorMessage(e))?.[1];

type Rt = Awaited<ReturnType<typeof open>>;

async function open() {
  // Only the rtnetlink part of the package: its index also loads nl80211, WireGuard and generic
  // netlink, several times the cost (bench/cni-latency prints both).
  const rt: typeof import('netlink') = await import('netlink/dist/rt/rt.js' as string);
  return rt.createRtNetlink();
}

async function linkByName(rt: Rt, name: string) {
  try {
    const [l] = await rt.getLink({}, { ifname: name });
    return l;
  } catch (e) {
    if (errno(e) === 'ENODEV') return undefined;
    throw e;
  }
}

/** The bridge, created if missing, promiscuous if asked, with its gateway addresses, up: its index. */
async function ensureBridge(rt: Rt, p: PortPlan): Promise<number> {
  let br = await linkByName(rt, p.bridge);
  if (!br) {
    try {
      await rt.newLink(
        {},
        {
          ifname: p.bridge,
          address: macBytes(p.bridgeMac),
          ...(p.mtu ? { mtu: p.mtu } : {}),
          linkinfo: nlattr(IFLA_INFO_KIND, cstr('bridge')),
        },
        { flags: NLM_F_CREATE | NLM_F_EXCL },
      );
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw e;
    }
    br = await linkByName(rt, p.bridge);
  }
  const brIndex = br!.data.index!;
  if (p.promisc) await rt.setLink({ index: brIndex, flags: { promisc: true }, change: { promisc: true } });
  for (const g of p.gateways) {
    const addr = ipBytes(g);
    await rt.newAddress(
      {
        family: g.ip.family === 4 ? AF_INET : AF_INET6,
        prefixlen: g.prefix,
        index: brIndex,
        ...(g.ip.family === 6 ? { flags: { nodad: true } } : {}),
      },
      { local: addr, address: addr },
      { flags: NLM_F_CREATE | NLM_F_REPLACE },
    );
  }
  await rt.setLink({ index: brIndex, flags: { up: true }, change: { up: true } });
  return brIndex;
}

/** The host end of the veth up, enslaved to the bridge, in hairpin mode if asked. */
async function attachToBridge(rt: Rt, p: PortPlan, brIndex: number): Promise<void> {
  const port = await linkByName(rt, p.port);
  if (!port)
    throw new CniError(
      ErrorCode.Internal,
      `failed to attach ${p.port} to bridge ${p.bridge}`,
      `${p.port} does not exist`,
    );
  await rt.setLink({ index: port.data.index!, flags: { up: true }, change: { up: true } }, { master: brIndex });
  if (p.hairpin) {
    const slave = Buffer.concat([
      nlattr(IFLA_INFO_SLAVE_KIND, cstr('bridge')),
      nlattr(IFLA_INFO_SLAVE_DATA, nlattr(IFLA_BRPORT_MODE, Buffer.from([1]))),
    ]);
    await rt.newLink({ index: port.data.index! }, { linkinfo: slave });
  }
}

/** The bridge's MAC and its global-scope addresses, as the kernel now has them. */
async function bridgeState(rt: Rt, bridge: string, brIndex: number): Promise<BridgeState> {
  const fresh = await linkByName(rt, bridge);
  const addrs = await rt.getAddresses({ index: brIndex });
  const mac = [...(fresh!.attrs.address ?? Buffer.alloc(6))].map((b) => b.toString(16).padStart(2, '0')).join(':');
  return {
    mac,
    addrs: addrs
      .filter((a) => a.data.index === brIndex && a.attrs.address && (a.data.scope ?? 0) === 0)
      .map((a) => {
        const buf = a.attrs.local ?? a.attrs.address!;
        let v = 0n;
        for (const b of buf) v = (v << 8n) | BigInt(b);
        return { ip: { family: buf.length === 4 ? 4 : 6, value: v }, prefix: a.data.prefixlen! } as CIDR;
      }),
  };
}

export function netlinkHostLinks(): HostLinks {
  return {
    async attachPort(p: PortPlan): Promise<BridgeState> {
      const rt = await open();
      try {
        const brIndex = await ensureBridge(rt, p);
        await attachToBridge(rt, p, brIndex);
        return await bridgeState(rt, p.bridge, brIndex);
      } catch (e) {
        if (e instanceof CniError) throw e;
        throw new CniError(ErrorCode.Internal, `failed to attach ${p.port} to bridge ${p.bridge}`, errorMessage(e));
      } finally {
        rt.socket.close();
      }
    },
    async deleteAddrs(bridge: string, addrs: CIDR[]) {
      const rt = await open();
      try {
        const br = await linkByName(rt, bridge);
        if (!br) return;
        for (const a of addrs) {
          const b = ipBytes(a);
          await rt
            .delAddress(
              { family: a.ip.family === 4 ? AF_INET : AF_INET6, prefixlen: a.prefix, index: br.data.index! },
              { local: b, address: b },
            )
            .catch((e) => {
              throw new CniError(
                ErrorCode.Internal,
                `failed to remove ${formatCIDR(a)} from ${bridge}`,
                errorMessage(e),
              );
            });
        }
      } finally {
        rt.socket.close();
      }
    },
    async deleteLink(name: string) {
      const rt = await open();
      try {
        const l = await linkByName(rt, name);
        if (!l) return false;
        await rt.delLink({ index: l.data.index! });
        return true;
      } finally {
        rt.socket.close();
      }
    },
  };
}
