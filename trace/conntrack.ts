// `conntrack -L` lines (pure): the connection as the client sent it (original) and as the
// answer comes back (reply). After DNAT the reply's source is the endpoint that answered; after
// SNAT (masquerade) the reply's destination is the address the endpoint saw.
//   tcp      6 117 TIME_WAIT src=192.0.2.1 dst=10.96.0.10 sport=36388 dport=80 src=10.244.1.12 dst=192.0.2.1 sport=8080 dport=36388 [ASSURED] mark=0 use=1

export interface Tuple {
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
}

export interface ConntrackEntry {
  proto: string;
  state?: string;
  original: Tuple;
  reply: Tuple;
  line: string;
}

export function parseConntrackLine(line: string): ConntrackEntry | undefined {
  const words = line.trim().split(/\s+/);
  if (words.length < 4) return undefined;
  const tuples: Tuple[] = [];
  let cur: Partial<Tuple> = {};
  let state: string | undefined;
  for (const w of words.slice(1)) {
    const kv = /^(src|dst|sport|dport)=(.+)$/.exec(w);
    if (!kv) {
      if (/^[A-Z_]+$/.test(w) && tuples.length === 0 && cur.src === undefined) state = w;
      continue;
    }
    const [, k, v] = kv as unknown as [string, keyof Tuple, string];
    if (k === 'src' && cur.src !== undefined) {
      tuples.push(cur as Tuple);
      cur = {};
    }
    if (k === 'sport' || k === 'dport') cur[k] = Number(v);
    else cur[k] = v;
  }
  if (cur.src !== undefined) tuples.push(cur as Tuple);
  if (tuples.length < 2) return undefined;
  return { proto: words[0]!, ...(state ? { state } : {}), original: tuples[0]!, reply: tuples[1]!, line: line.trim() };
}

export function parseConntrack(text: string): ConntrackEntry[] {
  return text
    .split('\n')
    .map(parseConntrackLine)
    .filter((e): e is ConntrackEntry => e !== undefined);
}
