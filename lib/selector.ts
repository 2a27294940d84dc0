// Label selectors, as k8s.io/apimachinery/pkg/labels defines them: both the structured
// LabelSelector (matchLabels, matchExpressions) and the string form used by `kubectl -l` and
// by the API's labelSelector parameter ("app=web,tier!=db,env in (a,b),!canary").

export type Operator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Equals' | 'NotEquals';

export interface Requirement {
  key: string;
  operator: Operator;
  values: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export class SelectorError extends Error {
  constructor(readonly input: string, reason: string) {
    super(`invalid label selector ${JSON.stringify(input)}: ${reason}`);
    this.name = 'SelectorError';
  }
}

export function matches(reqs: readonly Requirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.operator) {
      case 'Exists': return has;
      case 'DoesNotExist': return !has;
      case 'In': case 'Equals': return has && r.values.includes(l[r.key]!);
      case 'NotIn': case 'NotEquals': return !has || !r.values.includes(l[r.key]!);
    }
  });
}

/** Requirements from a structured LabelSelector. An empty selector matches everything. */
export function fromLabelSelector(sel: LabelSelector): Requirement[] {
  const out: Requirement[] = [];
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) out.push({ key, operator: 'In', values: [value] });
  for (const e of sel.matchExpressions ?? []) {
    const op = e.operator as Operator;
    if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(op)) throw new SelectorError(JSON.stringify(e), `unknown operator ${e.operator}`);
    const values = e.values ?? [];
    if ((op === 'In' || op === 'NotIn') && values.length === 0) throw new SelectorError(JSON.stringify(e), `operator ${op} needs values`);
    if ((op === 'Exists' || op === 'DoesNotExist') && values.length > 0) throw new SelectorError(JSON.stringify(e), `operator ${op} takes no values`);
    out.push({ key: e.key, operator: op, values });
  }
  return out;
}

const keyPattern = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Parse the string form. Commas inside "in (...)" do not split requirements. */
export function parseSelector(input: string): Requirement[] {
  const out: Requirement[] = [];
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of input) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) { parts.push(cur); cur = ''; } else cur += ch;
  }
  if (cur.trim() || parts.length) parts.push(cur);
  for (const raw of parts) {
    const p = raw.trim();
    if (!p) throw new SelectorError(input, 'empty requirement');
    let m: RegExpExecArray | null;
    if ((m = /^!\s*(\S+)$/.exec(p))) out.push({ key: m[1]!, operator: 'DoesNotExist', values: [] });
    else if ((m = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(p)))
      out.push({ key: m[1]!, operator: m[2] === 'in' ? 'In' : 'NotIn', values: m[3]!.split(',').map((v) => v.trim()).filter(Boolean) });
    else if ((m = /^(\S+?)\s*(!=|==|=)\s*(\S*)$/.exec(p)))
      out.push({ key: m[1]!, operator: m[2] === '!=' ? 'NotEquals' : 'Equals', values: [m[3]!] });
    else if ((m = /^(\S+)$/.exec(p))) out.push({ key: m[1]!, operator: 'Exists', values: [] });
    else throw new SelectorError(input, `cannot parse ${JSON.stringify(p)}`);
    const key = out[out.length - 1]!.key;
    if (!keyPattern.test(key)) throw new SelectorError(input, `invalid label key ${JSON.stringify(key)}`);
  }
  return out;
}
