// The failover page: pure, recorded data in, one self-contained HTML document out (inline SVG
// and CSS; no script runs in it). Per scenario, a timeline of every request (x: time since the
// loop started; y: the pod that answered, with a bottom row of red crosses for failures, their
// error in the tooltip), a vertical line per event the cluster reported (numbered, listed under
// the chart) and the measured window shaded. The data itself is in the page as JSON
// (<script type="application/json" id="failover-data">) so tests and people can reuse it.
import type { FailoverEvent, EventKind } from './failover-events.js';
import type { Sample, TrafficSummary } from './traffic.js';

export interface ScenarioRecord {
  scenario: string;
  title: string;
  target: string;
  summary: TrafficSummary;
  samples: Sample[];
  actionAt: number;
  settledFrom: number;
  window: { from: number; to: number; label: string } | null;
  events: FailoverEvent[];
  /** Anything that went wrong while recording (a watch that failed), shown on the page. */
  notes?: string[];
}

export interface FailoverPageData {
  cluster: string;
  proxyMode: string;
  ratePerSecond: number;
  generatedAt: string;
  scenarios: ScenarioRecord[];
}

export const KIND_COLOURS: Record<EventKind, string> = {
  action: '#555555',
  container: '#d62728',
  probe: '#ff7f0e',
  unready: '#9467bd',
  endpoint: '#1f77b4',
  sync: '#2ca02c',
  ready: '#17becf',
  node: '#8c564b',
};
const KIND_WORDS: Record<EventKind, string> = {
  action: 'action / pod lifecycle',
  container: 'container ended',
  probe: 'probe failing',
  unready: 'pod unready',
  endpoint: 'EndpointSlice change',
  sync: 'proxy rules synced',
  ready: 'pod Ready',
  node: 'node',
};
const NODE_COLOURS = ['#1f77b4', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#bcbd22'];

const W = 1100,
  LEFT = 310,
  RIGHT = 20,
  TOP = 36,
  ROW = 24,
  BOTTOM = 34;

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** A tick step (ms) giving at most ~12 ticks over the span. */
function tickStep(spanMs: number): number {
  for (const s of [500, 1000, 2000, 5000, 10_000, 20_000, 30_000, 60_000]) if (spanMs / s <= 12) return s;
  return 120_000;
}

function chart(r: ScenarioRecord): string {
  const pods = [...new Set(r.samples.filter((s) => s.ok && s.pod).map((s) => s.pod!))].sort();
  const nodes = [...new Set(r.samples.filter((s) => s.node).map((s) => s.node!))].sort();
  const nodeOf = new Map(r.samples.filter((s) => s.pod).map((s) => [s.pod!, s.node ?? '']));
  const rows = [...pods, 'failed'];
  const H = TOP + rows.length * ROW + BOTTOM;
  const span = Math.max(1, ...r.samples.map((s) => s.end), ...r.events.map((e) => e.at));
  const x = (ms: number) => (LEFT + (ms / span) * (W - LEFT - RIGHT)).toFixed(1);
  const y = (row: string) => TOP + rows.indexOf(row) * ROW + ROW / 2;
  const parts: string[] = [];
  parts.push(
    `<svg class="timeline" data-scenario="${escapeHtml(r.scenario)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg">`,
  );
  rows.forEach((row, i) => {
    const label = row === 'failed' ? 'failed requests' : `${row}${nodeOf.get(row) ? ` (${nodeOf.get(row)})` : ''}`;
    parts.push(
      `<rect class="row" x="${LEFT}" y="${TOP + i * ROW}" width="${W - LEFT - RIGHT}" height="${ROW}" fill="${i % 2 ? '#fafafa' : '#f2f2f2'}"/>`,
    );
    parts.push(
      `<text class="rowlabel${row === 'failed' ? ' failed' : ''}" x="${LEFT - 6}" y="${y(row) + 4}" text-anchor="end">${escapeHtml(label)}</text>`,
    );
  });
  if (r.window) {
    parts.push(
      `<rect class="window" x="${x(r.window.from)}" y="${TOP}" width="${Math.max(1, Number(x(r.window.to)) - Number(x(r.window.from))).toFixed(1)}" height="${rows.length * ROW}"><title>measured window: ${escapeHtml(r.window.label)} (${secs(r.window.from)} to ${secs(r.window.to)})</title></rect>`,
    );
  }
  const step = tickStep(span);
  for (let t = 0; t <= span; t += step) {
    parts.push(
      `<line class="tick" x1="${x(t)}" x2="${x(t)}" y1="${TOP + rows.length * ROW}" y2="${TOP + rows.length * ROW + 5}"/><text class="ticklabel" x="${x(t)}" y="${TOP + rows.length * ROW + 18}" text-anchor="middle">${t / 1000} s</text>`,
    );
  }
  for (const s of r.samples) {
    const what = s.ok ? `${s.pod} on ${s.node}` : `FAILED: ${s.error ?? 'failed'}`;
    const tip = `<title>${escapeHtml(`request at ${secs(s.start)} (${Math.round(s.end - s.start)} ms): ${what}`)}</title>`;
    if (s.ok && s.pod) {
      const colour = NODE_COLOURS[Math.max(0, nodes.indexOf(s.node ?? '')) % NODE_COLOURS.length];
      parts.push(`<circle class="req ok" cx="${x(s.start)}" cy="${y(s.pod)}" r="3" fill="${colour}">${tip}</circle>`);
    } else {
      const cx = Number(x(s.start)),
        cy = y('failed');
      parts.push(
        `<path class="req fail" d="M${cx - 4} ${cy - 4}L${cx + 4} ${cy + 4}M${cx - 4} ${cy + 4}L${cx + 4} ${cy - 4}">${tip}</path>`,
      );
    }
  }
  r.events.forEach((e, i) => {
    parts.push(
      `<g class="event event-${e.kind}"><line x1="${x(e.at)}" x2="${x(e.at)}" y1="${TOP - 4}" y2="${TOP + rows.length * ROW}" stroke="${KIND_COLOURS[e.kind]}"/>` +
        `<text x="${x(e.at)}" y="${TOP - 8 - (i % 3) * 9}" text-anchor="middle" fill="${KIND_COLOURS[e.kind]}">${i + 1}</text>` +
        `<title>${escapeHtml(`${i + 1}. ${secs(e.at)} ${e.text} (${e.source})`)}</title></g>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function eventTable(r: ScenarioRecord): string {
  if (!r.events.length) return '<p class="none">No events recorded.</p>';
  const rows = r.events.map(
    (e, i) =>
      `<tr><td>${i + 1}</td><td>${secs(e.at)}</td><td><span class="swatch" style="background:${KIND_COLOURS[e.kind]}"></span>${escapeHtml(KIND_WORDS[e.kind])}</td><td>${escapeHtml(e.text)}</td><td class="src">${escapeHtml(e.source)}</td></tr>`,
  );
  return `<table class="events"><thead><tr><th>#</th><th>time</th><th>kind</th><th>what</th><th>from</th></tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table>`;
}

function section(r: ScenarioRecord): string {
  const s = r.summary;
  const errors = Object.entries(s.errors)
    .map(([e, n]) => `${n} × ${e}`)
    .join('; ');
  return `<section class="scenario" id="scenario-${escapeHtml(r.scenario)}">
<h2>(${escapeHtml(r.scenario)}) ${escapeHtml(r.title)}: ${escapeHtml(r.target)}</h2>
<p class="summary">${s.requests} requests, ${s.failed} failed${s.failed ? ` over ${s.windowSeconds.toFixed(2)} s` : ''}${r.window ? `; measured window: ${escapeHtml(r.window.label)}` : ''}${errors ? `; errors: ${escapeHtml(errors)}` : ''}</p>
${(r.notes ?? []).map((n) => `<p class="note">recording: ${escapeHtml(n)}</p>`).join('\n')}
${chart(r)}
${eventTable(r)}
</section>`;
}

const CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#222;max-width:1140px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
svg.timeline{display:block;background:#fff;border:1px solid #ddd}
svg text{font:11px system-ui,sans-serif}
.rowlabel.failed{fill:#d62728}.ticklabel{fill:#555}.tick{stroke:#888}
.req.fail{stroke:#d62728;stroke-width:2;fill:none}
.event line{stroke-width:1.5;stroke-dasharray:4 2}
.window{fill:#d62728;fill-opacity:.10;stroke:#d62728;stroke-opacity:.4}
table.events{border-collapse:collapse;margin-top:6px;font-size:12px}
table.events td,table.events th{border-bottom:1px solid #eee;padding:2px 8px;text-align:left;vertical-align:top}
table.events td:nth-child(-n+3){white-space:nowrap}
.src{color:#666}.swatch{display:inline-block;width:10px;height:10px;margin-right:5px;border-radius:2px}
.note{color:#b00}.legend span{margin-right:14px}`;

export function renderFailoverPage(d: FailoverPageData): string {
  const legend = (Object.keys(KIND_COLOURS) as EventKind[])
    .map(
      (k) =>
        `<span><span class="swatch" style="background:${KIND_COLOURS[k]}"></span>${escapeHtml(KIND_WORDS[k])}</span>`,
    )
    .join('');
  // JSON inside <script>: "<" escaped, so no string in it can close the element.
  const json = JSON.stringify(d).replace(/</g, '\\u003c');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>kubenode failover: cluster ${escapeHtml(d.cluster)}</title>
<style>${CSS}</style></head>
<body>
<h1>Failover on cluster ${escapeHtml(d.cluster)} (kubenode-proxy in ${escapeHtml(d.proxyMode)} mode)</h1>
<p>${d.ratePerSecond} requests per second through node 1's NodePort, a new connection each. Dots: a request and the pod that answered it (coloured by node); red crosses: failed requests (hover for the error); dashed lines: what the cluster reported (Pod and EndpointSlice watches, Kubernetes Events, each node's proxy log), numbered as in the table; shaded: the measured window. Recorded ${escapeHtml(d.generatedAt)}.</p>
<p class="legend">${legend}</p>
${d.scenarios.map(section).join('\n')}
<script type="application/json" id="failover-data">${json}</script>
</body></html>
`;
}
