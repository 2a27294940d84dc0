// The IPVS test VM (scripts/vm.sh): a command's stdout, stderr and exit status come back to the
// caller, the guest runs from the project root on the host's files, its writes stay inside, and
// its kernel has IPVS while this machine's does not.
import t from 'tap';
import { existsSync } from 'node:fs';
import { run } from '../../lib/exec.js';
import { runPrefix } from '../harness/prefix.js';
import { requireProgram } from '../harness/require.js';
import { projectRoot, runInVm } from '../vm/vm.js';

const prefix = runPrefix();

t.test('a failing command returns its output and its exit status', async (t) => {
  const r = await runInVm(['sh', '-c', `echo out-${prefix}; echo err-${prefix} >&2; exit 7`], { timeoutMs: 180_000 });
  t.equal(r.code, 7, `exit status 7 (stderr: ${r.stderr.slice(-500)})`);
  t.equal(r.stdout, `out-${prefix}\n`, 'stdout is exactly what the command printed');
  t.match(r.stderr, `err-${prefix}\n`, 'stderr came back separately');
  t.notMatch(r.stdout, `err-${prefix}`, 'stderr is not mixed into stdout');
  t.comment(`VM run took ${r.ms} ms`);
});

t.test('IPVS works inside the VM from the project root, and not on this machine', async (t) => {
  requireProgram('ipvsadm');
  const host = await run('ipvsadm', ['-Ln'], { allowFailure: true });
  t.not(host.code, 0, `ipvsadm -Ln fails on the host (${(host.stderr || host.stdout).trim()})`);

  const probe = `${projectRoot}/.vm-write-probe-${prefix}`;
  const script = [
    'set -e',
    'pwd',
    'uname -r',
    'ipvsadm -Ln',
    // A virtual server really is programmable, not only listed.
    'ipvsadm -A -t 10.0.0.1:80 -s rr && ipvsadm -a -t 10.0.0.1:80 -r 10.0.0.2:80 -m && ipvsadm -Ln',
    `node -e 'console.log("node " + process.version)'`,
    `touch ${probe} && ls ${probe}`,
  ].join('\n');
  const r = await runInVm(['bash', '-c', script], { timeoutMs: 180_000 });
  t.equal(r.code, 0, `the script succeeded inside (stderr: ${r.stderr.slice(-800)})`);
  const lines = r.stdout.split('\n');
  t.equal(lines[0], projectRoot, 'COMMAND starts in the project root');
  t.not(lines[1], (await run('uname', ['-r'])).stdout.trim(), 'the guest runs its own kernel');
  t.match(r.stdout, /IP Virtual Server version \d/, 'ipvsadm -Ln answers inside the VM');
  t.match(
    r.stdout,
    /TCP\s+10\.0\.0\.1:80 rr\s*\n\s+-> 10\.0\.0\.2:80\s+Masq\s+1/,
    'a virtual server and its real server were created',
  );
  t.match(r.stdout, /node v\d+/, "the host's Node.js runs inside");
  t.equal(existsSync(probe), false, "the guest's write to the project directory stayed in its overlay");
  t.comment(`VM run took ${r.ms} ms`);
});
