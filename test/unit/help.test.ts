// Every script and program answers --help and -h with its usage on stdout and exit status 0,
// without root, without reading stdin and without anything running: it is the first thing a new
// user types. scripts/*.sh is enumerated, so a script added later is held to the same rule; a
// file without a #! line is a library that scripts source (versions.sh), not a program.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../../..');

interface Answer {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Run a program with stdin left open: one that reads stdin would wait, and time out here. */
function answer(file: string, args: string[], env: NodeJS.ProcessEnv = process.env, input?: string): Promise<Answer> {
  return new Promise((done, fail) => {
    const child = spawn(file, args, { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '',
      timedOut = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, 20_000);
    child.on('error', fail);
    if (input !== undefined) child.stdin.end(input);
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      done({ code, stdout, stderr, timedOut });
    });
  });
}

/** As nobody when the test runs as root: --help must not need root. */
function unprivileged(file: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0
    ? ['setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', file, ...args]]
    : [file, args];
}

function checkHelp(t: Test, what: string, a: Answer): void {
  t.notOk(a.timedOut, `${what} answers without waiting (for stdin, a lock, a daemon)`);
  t.equal(
    a.code,
    0,
    `${what} exits 0${a.code ? `; stderr: ${a.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`,
  );
  t.match(
    a.stdout,
    /^usage:/im,
    `${what} prints a usage line on stdout (got: ${JSON.stringify(a.stdout.slice(0, 120))})`,
  );
}

const scripts = readdirSync(join(ROOT, 'scripts'))
  .filter((f) => f.endsWith('.sh'))
  .sort();
const programs = scripts.filter((f) => readFileSync(join(ROOT, 'scripts', f), 'utf8').startsWith('#!'));

t.test('every scripts/*.sh answers --help and -h', async (t) => {
  t.ok(programs.includes('cluster.sh') && programs.includes('setup.sh'), `scripts found: ${programs.join(' ')}`);
  const libraries = scripts.filter((f) => !programs.includes(f));
  if (libraries.length) t.comment(`sourced libraries (no #! line), not programs: ${libraries.join(' ')}`);
  for (const s of programs) {
    for (const flag of ['--help', '-h']) {
      const [file, args] = unprivileged(join(ROOT, 'scripts', s), [flag]);
      checkHelp(t, `scripts/${s} ${flag}`, await answer(file, args));
    }
  }
});

t.test('the agent, the proxy, kubenode-trace and the host-gw controller answer --help and -h', async (t) => {
  for (const p of ['bin/kubenode-agent.js', 'bin/kubenode-proxy.js', 'bin/kubenode-trace.js', 'dist/hostgw/main.js']) {
    for (const flag of ['--help', '-h']) {
      const [file, args] = unprivileged(process.execPath, [join(ROOT, p), flag]);
      checkHelp(t, `${p} ${flag}`, await answer(file, args));
    }
  }
});

t.test('the CNI plugins: --help prints usage; without CNI_COMMAND the about text, as libcni skel', async (t) => {
  // The launcher picks the plugin by the name it runs under, as scripts/install-cni.sh installs it.
  const dir = mkdtempSync(join(tmpdir(), 'kubenode-help-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const plugin of ['kubenode-bridge', 'kubenode-ipam']) {
    const link = join(dir, plugin);
    symlinkSync(join(ROOT, 'bin', 'kubenode-cni.cjs'), link);
    for (const flag of ['--help', '-h']) {
      const a = await answer(process.execPath, [link, flag]);
      checkHelp(t, `${plugin} ${flag}`, a);
      t.match(a.stdout, /CNI_COMMAND=VERSION/, `${plugin} ${flag} says how to try it`);
    }
    // A runtime always sets CNI_COMMAND; a person who runs the plugin bare learns what it is.
    const { CNI_COMMAND: _, ...env } = process.env;
    const bare = await answer(process.execPath, [link], env);
    t.notOk(bare.timedOut, `${plugin} without CNI_COMMAND does not read stdin`);
    t.equal(bare.code, 0, `${plugin} without CNI_COMMAND exits 0`);
    t.equal(bare.stdout, '', 'and prints nothing a runtime would parse');
    t.match(
      bare.stderr,
      new RegExp(`^${plugin}: .+\\nCNI protocol versions supported: 0\\.3\\.0, .*1\\.1\\.0\\n$`),
      'the about text on stderr',
    );
    // The plugin still does its job for a runtime.
    const version = await answer(process.execPath, [link], { ...env, CNI_COMMAND: 'VERSION' }, '');
    t.match(version.stdout, /"supportedVersions"/, `${plugin} answers CNI_COMMAND=VERSION`);
  }
  const launcher = await answer(process.execPath, [join(ROOT, 'bin', 'kubenode-cni.cjs'), '--help']);
  checkHelp(t, 'bin/kubenode-cni.cjs --help (the launcher under its own name)', launcher);
});
