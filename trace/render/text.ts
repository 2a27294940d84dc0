// The report as text for a terminal (pure): the hooks in the order the packet met them, each rule
// with its verdict and meaning, then NAT, route, interface, the pod that answered, conntrack.
import type { PacketInfo } from '../nft-trace.js';
import { describePod } from '../modes/types.js';
import type { TraceReport } from '../report.js';

export function packetLine(p: PacketInfo): string {
  const ifs = [p.iif ? `in ${p.iif}` : '', p.oif ? `out ${p.oif}` : ''].filter(Boolean).join(', ');
  return `${p.saddr}:${p.sport} -> ${p.daddr}:${p.dport}${ifs ? ` (${ifs})` : ''}`;
}

export function verdictText(verdict: string, target?: string): string {
  return target ? `${verdict} ${target}` : verdict;
}

export function renderText(r: TraceReport): string {
  const out: string[] = [];
  const from = r.flow.fromPod ? ` from pod ${r.flow.fromPod}` : '';
  out.push(
    `${r.flow.proto} ${packetLine({ ...r.packet, iif: undefined, oif: undefined })}${from} on node ${r.node}${r.mode ? ` (proxy mode ${r.mode})` : ''}`,
  );
  if (r.flow.command)
    out.push(`command: ${r.flow.command.join(' ')}${r.commandExit !== undefined ? ` (exit ${r.commandExit})` : ''}`);
  for (const h of r.hops) {
    out.push('', `${h.family} ${h.table} ${h.chain}: ${packetLine(h.packet)}`);
    for (const s of h.steps) {
      out.push(`  ${s.chain}  ${s.kind === 'policy' ? 'policy ' : ''}${verdictText(s.verdict, s.target)}`);
      if (s.meaning) out.push(`      ${s.meaning}`);
      else if (s.nft) out.push(`      ${s.source ?? s.nft}`);
    }
  }
  out.push('');
  if (r.outcome !== 'accepted') {
    out.push(
      `Outcome:    ${r.outcome} by ${r.stoppedBy?.table} ${r.stoppedBy?.chain}${r.stoppedBy?.meaning ? `: ${r.stoppedBy.meaning}` : ''}`,
    );
  }
  if (r.dnat) out.push(`DNAT:       ${r.dnat.before} -> ${r.dnat.after}`);
  if (r.snat) out.push(`Masquerade: ${r.snat.before} -> ${r.snat.after ?? "(the outgoing interface's address)"}`);
  if (r.ipvs)
    out.push(
      `IPVS:       ${r.ipvs.proto} ${r.ipvs.source} -> ${r.ipvs.virtual} -> ${r.ipvs.destination} (${r.ipvs.state})`,
    );
  if (r.userspaceProxy)
    out.push(
      `Proxy:      port ${r.userspaceProxy.port}${r.userspaceProxy.process ? `, process ${r.userspaceProxy.process} (pid ${r.userspaceProxy.pid})` : ''}: it accepts this connection and opens a new one from the node to an endpoint (a second flow, not traced here)`,
    );
  if (r.route) out.push(`Route:      ${r.route}`);
  if (r.interface) out.push(`Interface:  ${r.interface}${r.bridgePort ? `, bridge port ${r.bridgePort}` : ''}`);
  if (r.endpoint)
    out.push(
      `Answered:   ${r.endpoint.address}${r.endpoint.pod ? `, ${describePod(r.endpoint.pod)}` : ' (no pod known at this address)'}`,
    );
  out.push(`Conntrack:  ${r.conntrack ? r.conntrack.line : 'no entry (the connection was never confirmed)'}`);
  if (r.laterPackets > 0)
    out.push(
      `(${r.laterPackets} later packet${r.laterPackets === 1 ? '' : 's'} of the flow traced too; only the first meets the NAT rules)`,
    );
  return out.join('\n') + '\n';
}
