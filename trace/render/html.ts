// The report as a self-contained page (pure): an inline SVG drawing of the path, top to bottom:
// the client, the node with one box per chain the packet met (verdict and meaning), the endpoint
// and the pod, with arrows labelled by the addresses before and after NAT. No scripts, no
// external resources: the file can be mailed or opened offline.
import { describePod } from '../modes/types.js';
import type { TraceReport } from '../report.js';
import { packetLine, verdictText } from './text.js';

export const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n - 1) + '…' : s);

const W = 960;
const BOX_X = 40;
const BOX_W = W - 80;

interface Drawing {
  parts: string[];
  y: number;
}

/** Word-wrap to lines of at most n characters (monospace), at most 4 lines. */
export function wrap(s: string, n: number): string[] {
  const out: string[] = [];
  let cur = '';
  for (const word of s.split(' ')) {
    if (cur && cur.length + 1 + word.length > n) {
      out.push(cur);
      cur = word;
    } else cur = cur ? `${cur} ${word}` : word;
  }
  if (cur) out.push(cur);
  return out.length > 4 ? [...out.slice(0, 3), clip(out.slice(3).join(' '), n)] : out.map((l) => clip(l, n));
}

/** A box with a bold first line; the others wrapped to its width (8.2 px per monospace character). */
function box(d: Drawing, cls: string, lines: string[], x = BOX_X, w = BOX_W): void {
  const n = Math.floor((w - 24) / 8.2);
  const text = [
    clip(lines[0] ?? '', n),
    ...lines
      .slice(1)
      .filter(Boolean)
      .flatMap((l) => wrap(l, n)),
  ];
  const h = 12 + text.length * 18;
  d.parts.push(`<rect class="${cls}" x="${x}" y="${d.y}" width="${w}" height="${h}" rx="6"/>`);
  text.forEach((l, i) => {
    d.parts.push(`<text x="${x + 12}" y="${d.y + 22 + i * 18}"${i === 0 ? ' class="title"' : ''}>${esc(l)}</text>`);
  });
  d.y += h;
}

function arrow(d: Drawing, label: string): void {
  const x = BOX_X + 60;
  d.parts.push(`<line class="arrow" x1="${x}" y1="${d.y + 4}" x2="${x}" y2="${d.y + 40}" marker-end="url(#head)"/>`);
  d.parts.push(`<text class="label" x="${x + 12}" y="${d.y + 27}">${esc(label)}</text>`);
  d.y += 46;
}

function nodeBox(d: Drawing, r: TraceReport): void {
  const top = d.y;
  d.parts.push(''); // placeholder for the node frame, drawn once its height is known
  const frameAt = d.parts.length - 1;
  d.y += 30;
  for (const h of r.hops) {
    d.parts.push(
      `<text class="hook" x="${BOX_X + 16}" y="${d.y + 14}">${esc(`${h.family} ${h.table} ${h.chain}: ${packetLine(h.packet)}`)}</text>`,
    );
    d.y += 22;
    for (const s of h.steps) {
      const cls = s.verdict === 'drop' ? 'chain stop' : /dnat|masquerade/.test(s.nft) ? 'chain nat' : 'chain';
      box(
        d,
        cls,
        [
          `${s.chain}  ${s.kind === 'policy' ? 'policy ' : ''}${verdictText(s.verdict, s.target)}`,
          s.meaning ?? s.source ?? s.nft,
        ],
        BOX_X + 28,
        BOX_W - 56,
      );
      d.y += 6;
    }
    d.y += 4;
  }
  d.y += 8;
  d.parts[frameAt] =
    `<rect class="node" x="${BOX_X}" y="${top}" width="${BOX_W}" height="${d.y - top}" rx="10"/>` +
    `<text class="title" x="${BOX_X + 14}" y="${top + 20}">${esc(`node ${r.node}${r.mode ? ` (kube-proxy mode ${r.mode})` : ''}`)}</text>`;
}

export function renderHtml(r: TraceReport): string {
  const d: Drawing = { parts: [], y: 20 };
  const src = `${r.packet.saddr}:${r.packet.sport}`;
  const dst = `${r.packet.daddr}:${r.packet.dport}`;
  box(d, 'client', [
    `client ${src}${r.flow.fromPod ? ` (pod ${r.flow.fromPod})` : ''}`,
    r.flow.command ? `command: ${r.flow.command.join(' ')}` : `${r.flow.proto} to ${dst}`,
  ]);
  arrow(d, `${r.flow.proto} ${src} → ${dst}`);
  nodeBox(d, r);
  if (r.outcome !== 'accepted') {
    arrow(d, r.outcome);
    box(d, 'stop', [`${r.outcome} by ${r.stoppedBy?.table} ${r.stoppedBy?.chain}`, r.stoppedBy?.meaning ?? '']);
  } else {
    const newSrc = r.snat?.after ?? src;
    const label = `${newSrc} → ${r.endpoint?.address ?? dst}${r.dnat ? ' (after NAT)' : ''}${r.interface ? ` via ${r.interface}${r.bridgePort ? ` / ${r.bridgePort}` : ''}` : ''}`;
    arrow(d, label);
    box(d, 'endpoint', [
      `endpoint ${r.endpoint?.address ?? dst}`,
      r.dnat ? `DNAT ${r.dnat.before} → ${r.dnat.after}` : 'no DNAT',
    ]);
    if (r.endpoint?.pod) {
      arrow(d, 'answered by');
      box(d, 'pod', [
        describePod(r.endpoint.pod),
        r.endpoint.pod.hostInterface ? `host interface ${r.endpoint.pod.hostInterface}` : '',
      ]);
    }
  }
  const height = d.y + 20;
  const rows: [string, string | undefined][] = [
    ['Route', r.route],
    ['Interface', r.interface && `${r.interface}${r.bridgePort ? `, bridge port ${r.bridgePort}` : ''}`],
    ['Masquerade', r.snat && `${r.snat.before} → ${r.snat.after ?? '?'}`],
    ['Conntrack', r.conntrack?.line ?? 'no entry'],
    ['IPVS', r.ipvs && `${r.ipvs.source} → ${r.ipvs.virtual} → ${r.ipvs.destination} (${r.ipvs.state})`],
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(`kubenode-trace: ${src} → ${dst} on ${r.node}`)}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; }
svg text { font: 13px ui-monospace, monospace; fill: #222; }
svg text.title { font-weight: bold; }
svg text.hook { fill: #555; }
svg text.label { fill: #1a4d8f; }
rect { stroke-width: 1.5; }
rect.client, rect.endpoint { fill: #eef4ff; stroke: #4a78c2; }
rect.pod { fill: #eaf7ea; stroke: #3c8f3c; }
rect.node { fill: #fafafa; stroke: #888; }
rect.chain { fill: #fff; stroke: #aaa; }
rect.nat { fill: #fff8e6; stroke: #c9962b; }
rect.stop { fill: #fdecec; stroke: #c0392b; }
line.arrow { stroke: #1a4d8f; stroke-width: 2; }
td { padding: 2px 12px 2px 0; vertical-align: top; } td:first-child { font-weight: bold; }
</style></head><body>
<h1>${esc(`${r.flow.proto} ${src} → ${dst}`)}</h1>
<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}">
<defs><marker id="head" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto"><path d="M0,0 L10,4 L0,8 z" fill="#1a4d8f"/></marker></defs>
${d.parts.join('\n')}
</svg>
<table>${rows
    .filter(([, v]) => v)
    .map(([k, v]) => `<tr><td>${k}</td><td><code>${esc(v!)}</code></td></tr>`)
    .join('')}</table>
</body></html>
`;
}
