// Every program README.md tells people to run (scripts/*.sh, bin/*) is committed with its run
// bit: `sudo scripts/control-plane.sh status` must not answer "Permission denied" on a fresh
// clone. Checked against what git records (mode 100755), not the checkout's file mode, because
// a clone gets its modes from git. A README line naming a script that is not committed fails too.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../../..');

/**
 * The programs a text names: scripts/NAME.sh and bin/NAME, in order of first mention. A bin/
 * inside an absolute path (/var/cache/kubenode/bin/...) is the machine's, not the repository's.
 */
export function namedPrograms(text: string): string[] {
  const found = new Set<string>();
  for (const m of text.matchAll(/(?<![\w.-])(?:scripts|(?<!\/)bin)\/[\w.\-/]*[\w-]/g)) {
    const path = m[0];
    if (path.startsWith('bin/') || path.endsWith('.sh')) found.add(path);
  }
  return [...found];
}

/** git's mode of each committed path ("100755", "100644"), from the index (git ls-files -s). */
function gitModes(paths: string[]): Map<string, string> {
  const out = execFileSync('git', ['ls-files', '-s', '--', ...paths], { cwd: ROOT, encoding: 'utf8' });
  const modes = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = /^(\d+) \S+ \d+\t(.+)$/.exec(line);
    if (m) modes.set(m[2]!, m[1]!);
  }
  return modes;
}

t.test('namedPrograms finds scripts and bins, not manifests or prose', async (t) => {
  t.same(
    namedPrograms(
      [
        'sudo scripts/setup.sh && sudo npm test',
        "vagrant ssh cp -c 'sudo /vagrant/scripts/control-plane.sh kubectl apply -f /vagrant/scripts/demo.yaml'",
        'see `scripts/cluster.sh --help`.',
        'the agent (bin/kubenode-agent.js), scripts/node.sh: the agent',
        'scripts/ holds shell; dist/bench/failover.js is built',
        'scripts/setup.sh again',
        'k8s=/var/cache/kubenode/bin/k8s-v1.34.4; $k8s/etcdctl put',
      ].join('\n'),
    ),
    ['scripts/setup.sh', 'scripts/control-plane.sh', 'scripts/cluster.sh', 'bin/kubenode-agent.js', 'scripts/node.sh'],
  );
});

t.test('every script and program README.md names is committed executable', async (t) => {
  const programs = namedPrograms(readFileSync(join(ROOT, 'README.md'), 'utf8'));
  t.ok(programs.includes('scripts/setup.sh'), `README.md names scripts/setup.sh (found: ${programs.join(' ')})`);
  const modes = gitModes(programs);
  for (const p of programs) {
    const mode = modes.get(p);
    if (mode === undefined) {
      t.fail(`README.md names ${p}, but git has no such file: commit the script or correct the README`);
      continue;
    }
    t.equal(
      mode,
      '100755',
      `${p} is committed executable (git update-index --chmod=+x ${p}), else the README's "sudo ${p}" answers Permission denied`,
    );
  }
});
