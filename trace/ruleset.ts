// Tying a traced rule back to the rule as it was written (pure). `nft monitor trace` prints
// iptables-nft rules in nft syntax, which loses what makes kube-proxy's rules readable: the
// comments ("default/web:http cluster IP") and the statistic/recent matches. The trace gives the
// rule's handle; `nft -a list ruleset` gives each chain's handles in order, and iptables-save
// lists the same chain's rules in the same order, so the n-th handle is the n-th "-A" line.

/** "family table chain" -> the handles of its rules, in order. */
export type HandleIndex = Map<string, number[]>;
/** "table chain" -> iptables-save rule specs (after "-A CHAIN "), in order. */
export type SaveIndex = Map<string, string[]>;

export const chainKey = (family: string, table: string, chain: string) => `${family} ${table} ${chain}`;

export function parseNftHandles(listing: string): HandleIndex {
  const out: HandleIndex = new Map();
  let table: [string, string] | undefined;
  let chain: string | undefined;
  for (const line of listing.split('\n')) {
    const t = /^\s*table (\S+) (\S+) \{/.exec(line);
    if (t) {
      table = [t[1]!, t[2]!];
      chain = undefined;
      continue;
    }
    const c = /^\s*chain (\S+) \{/.exec(line);
    if (c && table) {
      chain = c[1]!;
      out.set(chainKey(table[0], table[1], chain), []);
      continue;
    }
    if (
      /^\s*(set|map|flowtable|counter|quota|limit|ct \w+|secmark|synproxy) \S+ \{/.test(line) ||
      /^\s*\}\s*$/.test(line)
    ) {
      chain = undefined;
      continue;
    }
    const r = /# handle (\d+)\s*$/.exec(line);
    if (r && table && chain) out.get(chainKey(table[0], table[1], chain))!.push(Number(r[1]));
  }
  return out;
}

export function parseIptablesSave(save: string): SaveIndex {
  const out: SaveIndex = new Map();
  let table = '';
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) {
      table = line.slice(1).trim();
      continue;
    }
    const c = /^:(\S+) /.exec(line);
    if (c) {
      out.set(`${table} ${c[1]}`, []);
      continue;
    }
    const r = /^-A (\S+) ?(.*)$/.exec(line);
    if (r) {
      const k = `${table} ${r[1]}`;
      if (!out.has(k)) out.set(k, []);
      out.get(k)!.push(r[2]!);
    }
  }
  return out;
}

/** The iptables-save spec of the rule with this handle, when both listings agree on the chain. */
export function iptablesRuleFor(
  handles: HandleIndex,
  save: SaveIndex,
  family: string,
  table: string,
  chain: string,
  handle: number,
): string | undefined {
  if (family !== 'ip') return undefined;
  const hs = handles.get(chainKey(family, table, chain));
  const rules = save.get(`${table} ${chain}`);
  if (!hs || !rules || hs.length !== rules.length) return undefined;
  const i = hs.indexOf(handle);
  return i >= 0 ? rules[i] : undefined;
}

/** Split an iptables-save rule spec into words, keeping "quoted comments" whole. */
export function splitRule(spec: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(spec); m; m = re.exec(spec)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}

/** The value after an option ("--comment" -> its text), or undefined. */
export function optionValue(words: readonly string[], option: string): string | undefined {
  const i = words.indexOf(option);
  return i >= 0 ? words[i + 1] : undefined;
}
