// A fixed subset of upstream's conformance suite (scripts/conformance.sh, e2e.test of the pinned
// release) on an emulated cluster of its own: at least one spec for each behaviour kubenode once
// got wrong, so CI catches a regression in minutes; the whole set is `npm run conformance`.
import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../lib/exec.js';
import { parseJUnit, renderSummary, summarize } from '../conformance/junit.js';
import { SCRIPTS } from '../harness/control-plane.js';
import { freePorts } from '../harness/ports.js';
import { runPrefix } from '../harness/prefix.js';
import { requireRoot } from '../harness/require.js';

/** Each a part of one spec's name (matched as a literal), with what it guards. */
export const SUBSET: { spec: string; guards: string }[] = [
  {
    spec: "[sig-node] Downward API should provide container's limits.cpu/memory and requests.cpu/memory as env vars",
    guards: 'resourceFieldRef with the divisor the apiserver defaults ("0")',
  },
  { spec: '[sig-node] Variable Expansion should allow substituting values in a volume subpath', guards: 'subPathExpr' },
  {
    spec: '[sig-node] Pods should contain environment variables for services',
    guards: 'Service environment variables',
  },
  {
    spec: '[sig-node] InitContainer [NodeConformance] should invoke init containers on a RestartNever pod',
    guards: 'completed init containers are not ready',
  },
  {
    spec: '[sig-node] Ephemeral Containers [NodeConformance] will start an ephemeral container in an existing pod',
    guards: 'ephemeral containers',
  },
  { spec: '[sig-node] Pods should support remote command execution over websockets', guards: 'exec over WebSocket' },
  {
    spec: '[sig-node] Pods should support retrieving logs from the container over websockets',
    guards: 'logs over WebSocket',
  },
  { spec: '[sig-node] Pods should allow activeDeadlineSeconds to be updated', guards: 'activeDeadlineSeconds' },
  {
    spec: '[sig-node] Container Runtime blackbox test on terminated container should report termination message if TerminationMessagePath is set as non-root user and at a non-default path',
    guards: 'termination message file mode',
  },
  {
    spec: '[sig-node] KubeletManagedEtcHosts should test kubelet managed /etc/hosts file',
    guards: '/etc/hosts header',
  },
  {
    spec: '[sig-node] ConfigMap should be consumable as environment variable names with various prefixes',
    guards: 'relaxed envFrom names',
  },
  { spec: '[sig-network] DNS should provide DNS for the cluster', guards: 'cluster DNS' },
  {
    spec: '[sig-network] Networking Granular Checks: Pods should function for node-pod communication: http',
    guards: 'hostNetwork pods on emulated nodes',
  },
];

/** A literal as an RE2 regular expression (Ginkgo's --focus). */
export function literalRegexp(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

t.test('the conformance subset passes', async (t) => {
  requireRoot();
  const out = mkdtempSync(join(tmpdir(), 'kubenode-conformance-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const args = [join(SCRIPTS, 'conformance.sh')];
  for (const s of SUBSET) args.push('--focus', literalRegexp(s.spec));
  // A cluster of this run's own: name, networks and ports differ from `npm run conformance`'s.
  const env = {
    ...process.env,
    KUBENODE_CONFORMANCE_DIR: out,
    KUBENODE_CONFORMANCE_CLUSTER: runPrefix(),
    KUBENODE_CONFORMANCE_SUBNET: '192.168.71.0/24',
    KUBENODE_CONFORMANCE_CLUSTER_CIDR: '10.71.0.0/16',
    KUBENODE_CONFORMANCE_PORTS: (await freePorts(5)).join(' '),
    // Inside tap's 10 minutes per file: the suite stops itself after 6 (then the script still
    // tears the cluster down); the kill below is only a backstop.
    KUBENODE_CONFORMANCE_TIMEOUT: '6m',
  };
  const r = await run('bash', args, { env, allowFailure: true, timeoutMs: 590_000 });
  t.comment(
    r.stdout
      .split('\n')
      .slice(-(SUBSET.length + 4))
      .join('\n'),
  );

  const reports = readdirSync(out).filter((f) => /^junit_.*\.xml$/.test(f));
  t.ok(
    reports.length > 0,
    `the suite wrote a JUnit report (${out}); its output ends:\n${(r.stdout + r.stderr).split('\n').slice(-30).join('\n')}`,
  );
  const outcomes = reports.flatMap((f) => parseJUnit(readFileSync(join(out, f), 'utf8')));
  const summary = summarize(outcomes);
  t.comment(renderSummary(summary));
  for (const s of SUBSET) {
    const ran = summary.rows.filter((o) => o.name.includes(s.spec));
    t.equal(ran.length, 1, `${s.spec} ran (${s.guards})`);
    for (const o of ran) t.equal(o.result, 'passed', `${s.spec} passed (${s.guards}): ${o.firstFailureLine}`);
  }
  t.equal(summary.failed, 0, 'no spec and no suite node failed');
  t.equal(r.code, 0, 'scripts/conformance.sh exits 0');
  t.match(r.stdout.trim().split('\n').at(-1) ?? '', new RegExp(`^${SUBSET.length} passed, 0 failed$`));
});
