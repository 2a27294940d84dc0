// Parsing `nft -a monitor trace` output (pure). Each line is one trace event:
//   trace id 6095609a ip nat PREROUTING packet: iif "cbr0" ... ip saddr 10.244.1.14 ip daddr 10.96.0.10 ... tcp sport 35708 tcp dport 80 ...
//   trace id 6095609a ip nat KUBE-SERVICES rule meta l4proto tcp ip daddr 10.96.0.10 ... jump KUBE-SVC-X # handle 95 (verdict jump KUBE-SVC-X)
//   trace id 6095609a ip filter FORWARD policy accept
// Lines of one packet share a trace id, except that the kernel may give the same packet a new id
// between hooks (seen when a bridged packet is routed); the packet's IP id and source port tie
// those back together. The id is also reused by later packets, which start again in our table.

export interface PacketInfo {
  iif?: string;
  oif?: string;
  saddr?: string;
  daddr?: string;
  ipId?: number;
  proto?: string;
  sport?: number;
  dport?: number;
  flags?: string;
  mark?: string;
}

export type TraceEvent =
  | { id: string; family: string; table: string; chain: string; kind: 'packet'; packet: PacketInfo; raw: string }
  | {
      id: string;
      family: string;
      table: string;
      chain: string;
      kind: 'rule';
      rule: string;
      handle?: number;
      verdict: string;
      target?: string;
      raw: string;
    }
  | { id: string; family: string; table: string; chain: string; kind: 'policy'; verdict: string; raw: string }
  | {
      id: string;
      family: string;
      table: string;
      chain: string;
      kind: 'verdict';
      verdict: string;
      target?: string;
      raw: string;
    };

const HEADER = /^trace id ([0-9a-f]+) (\S+) (\S+) (\S+) (.*)$/;
const RULE = /^rule (.*?)(?:\s*# handle (\d+))?\s*\(verdict (\w+)(?: (\S+))?\)\s*$/;

export function parsePacket(text: string): PacketInfo {
  const p: PacketInfo = {};
  const str = (re: RegExp) => re.exec(text)?.[1];
  const num = (re: RegExp) => {
    const v = str(re);
    return v === undefined ? undefined : Number(v);
  };
  p.iif = str(/\biif "([^"]+)"/);
  p.oif = str(/\boif "([^"]+)"/);
  p.saddr = str(/\bip saddr (\S+)/);
  p.daddr = str(/\bip daddr (\S+)/);
  p.ipId = num(/\bip id (\d+)/);
  const l4 = /\b(tcp|udp|sctp) sport (\d+) \1 dport (\d+)/.exec(text);
  if (l4) {
    p.proto = l4[1];
    p.sport = Number(l4[2]);
    p.dport = Number(l4[3]);
  }
  p.flags = str(/\btcp flags == (\S+)/);
  p.mark = str(/\bmeta mark (0x[0-9a-f]+)/);
  for (const k of Object.keys(p) as (keyof PacketInfo)[]) if (p[k] === undefined) delete p[k];
  return p;
}

/** One line of `nft -a monitor trace`, or undefined for anything else. */
export function parseTraceLine(line: string): TraceEvent | undefined {
  const h = HEADER.exec(line.trimEnd());
  if (!h) return undefined;
  const [, id, family, table, chain, rest] = h as unknown as [string, string, string, string, string, string];
  const base = { id, family, table, chain, raw: line.trimEnd() };
  if (rest.startsWith('packet:')) return { ...base, kind: 'packet', packet: parsePacket(rest.slice(7)) };
  // A rule added after the monitor started (a proxy resync) is printed by handle only.
  const u = /^unknown rule handle (\d+)\s*\(verdict (\w+)(?: (\S+))?\)/.exec(rest);
  if (u)
    return { ...base, kind: 'rule', rule: '', handle: Number(u[1]), verdict: u[2]!, ...(u[3] ? { target: u[3] } : {}) };
  const r = RULE.exec(rest);
  if (r) {
    return {
      ...base,
      kind: 'rule',
      rule: r[1]!.replace(/\s+/g, ' ').trim(),
      ...(r[2] ? { handle: Number(r[2]) } : {}),
      verdict: r[3]!,
      ...(r[4] ? { target: r[4] } : {}),
    };
  }
  const pol = /^policy (\w+)/.exec(rest);
  if (pol) return { ...base, kind: 'policy', verdict: pol[1]! };
  const v = /^verdict (\w+)(?: (\S+))?/.exec(rest);
  if (v) return { ...base, kind: 'verdict', verdict: v[1]!, ...(v[2] ? { target: v[2] } : {}) };
  return undefined;
}

/** The events of one packet, from the moment our table marked it. */
export interface PacketTrace {
  /** The packet as our table saw it: before any NAT. */
  first: PacketInfo;
  events: TraceEvent[];
}

/** Group events into packets: a packet starts at a "packet:" event in our own table. */
export class PacketAssembler {
  readonly packets: PacketTrace[] = [];
  private byId = new Map<string, PacketTrace>();

  constructor(private readonly ourTable: string) {}

  add(e: TraceEvent): PacketTrace | undefined {
    if (e.table === this.ourTable) {
      if (e.kind !== 'packet') return this.byId.get(e.id);
      const p: PacketTrace = { first: e.packet, events: [] };
      this.packets.push(p);
      this.byId.set(e.id, p);
      return p;
    }
    let p = this.byId.get(e.id);
    if (!p && e.kind === 'packet') {
      // The same packet under a new trace id: same IP id, protocol and source port.
      p = this.packets.findLast(
        (x) => x.first.ipId === e.packet.ipId && x.first.proto === e.packet.proto && x.first.sport === e.packet.sport,
      );
      if (p) this.byId.set(e.id, p);
    }
    p?.events.push(e);
    return p;
  }
}
