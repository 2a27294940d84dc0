// Hostile input: 1,000 mutated network configurations and CNI_* environments through
// kubenode-bridge's entry (cni/skel's runPlugin, in-process with injected env and stdin). The
// answer is always the spec's error JSON on stdout ({cniVersion, code, msg}) with exit 1 and the
// code the spec gives the problem: 4 for a bad environment (checked first), 6 for stdin that is
// not a JSON object, 1 for an unsupported cniVersion, 2/7 for a bad configuration, 3 for a
// missing namespace; never 999 (an internal error is a crash in disguise).
// The handlers run the validation the real commands do before touching anything (bridge config,
// CNI_NETNS, IPAM config) and then stop at a sentinel: this tier never touches the kernel. A
// mutation that leaves the input valid reaches the sentinel and is counted, not failed; the
// integration tier (test/integration/fuzz-cni.test.ts) runs a sample through the real plugin.
import t from 'tap';
import { runPlugin } from '../../cni/skel/skel.js';
import { cniFuzzCase, REACHED, validateOnly } from '../fixtures/fuzz/cni.js';
import { Rng } from '../fixtures/fuzz/mutator.js';
import { errorMessage } from '../../lib/errors.js';

t.test('1,000 mutated CNI configurations and environments: the spec error, the right code', async (t) => {
  const rng = new Rng(0xc41);
  const wrong: string[] = [];
  let reached = 0;
  const codes = new Map<number, number>();
  for (let i = 0; i < 1000; i++) {
    const c = cniFuzzCase(rng, {
      netns: '/proc/self/ns/net',
      dataDir: '/nonexistent/kubenode-fuzz-ipam',
      cniPath: '/nonexistent/bin',
    });
    const out: string[] = [];
    let exit: number;
    try {
      exit = await runPlugin('kubenode-bridge', validateOnly, {
        env: c.env,
        stdin: () => c.stdin,
        stdout: (s) => out.push(s),
        stderr: () => {},
      });
    } catch (e) {
      wrong.push(`case ${i} (${c.what}): threw ${errorMessage(e)}`);
      continue;
    }
    let r: { cniVersion?: unknown; code?: unknown; msg?: unknown };
    try {
      r = JSON.parse(out.join(''));
    } catch {
      wrong.push(`case ${i} (${c.what}): stdout is not JSON: ${out.join('').slice(0, 200)}`);
      continue;
    }
    if (r.msg === REACHED) {
      reached++;
      continue;
    }
    codes.set(r.code as number, (codes.get(r.code as number) ?? 0) + 1);
    const ok =
      exit === 1 &&
      typeof r.cniVersion === 'string' &&
      typeof r.msg === 'string' &&
      r.msg !== '' &&
      c.codes.includes(r.code as number);
    if (!ok)
      wrong.push(
        `case ${i} (${c.what}): exit ${exit}, expected code ${c.codes.join('/')}: ${JSON.stringify(r).slice(0, 300)}`,
      );
  }
  t.same(wrong, [], 'every answer is the spec error JSON with the expected code and exit 1');
  t.ok(
    reached < 100,
    `few mutations leave the input valid (${reached} reached the sentinel; codes ${JSON.stringify([...codes].sort((a, b) => a[0] - b[0]))})`,
  );
  t.ok(codes.size >= 5, 'the cases reach codes 1, 2/3, 4, 6 and 7');
});
