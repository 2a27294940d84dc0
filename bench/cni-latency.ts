// CNI ADD/DEL latency: kubenode-bridge (+ kubenode-ipam in-process) beside Debian's reference
// bridge + host-local, with a bare `node -e 0` start as the floor, all in one run, interleaved so
// that machine noise falls on every series alike. Variants show where the time goes:
//   host links through netlink    the `netlink` npm package instead of one `ip -batch`
//   IPAM executed                 kubenode-ipam run as a second process (delegation)
//   no code cache                 the bundle run directly, compiled on every call
// Everything runs inside a network namespace playing the node (the bench re-executes itself
// there); nothing touches the machine's own namespace. Usage: sudo npm run bench -- cni-latency
// (CNI_BENCH_RUNS=N to change the 100 runs).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { printMachine, ratio, report, stats, type Stats } from './harness.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RUNS = Number(process.env.CNI_BENCH_RUNS ?? 100);
const WARMUP = 3;

interface Variant {
  label: string;
  file: string;
  args: string[];
  conf: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
}

function sh(file: string, args: string[]): void {
  const r = spawnSync(file, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.stderr || r.error}`);
}

function outer(): void {
  if (process.getuid?.() !== 0)
    throw new Error('cni-latency needs root (network namespaces): sudo npm run bench -- cni-latency');
  const prefix =
    'kb' +
    Math.floor(Math.random() * 0xffff)
      .toString(16)
      .padStart(4, '0');
  const tmp = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const node = `${prefix}-node`,
    pod = `${prefix}-pod`;
  const cleanup = () => {
    spawnSync('ip', ['netns', 'delete', pod]);
    spawnSync('ip', ['netns', 'delete', node]);
    rmSync(tmp, { recursive: true, force: true });
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    sh('ip', ['netns', 'add', node]);
    sh('ip', ['netns', 'add', pod]);
    sh('ip', ['-n', node, 'link', 'set', 'lo', 'up']);
    const r = spawnSync(
      'ip',
      ['netns', 'exec', node, process.execPath, fileURLToPath(import.meta.url), '--inner', prefix, tmp],
      { stdio: 'inherit' },
    );
    if (r.status !== 0) process.exitCode = 1;
  } finally {
    cleanup();
  }
}

function inner(prefix: string, tmp: string): void {
  printMachine('CNI ADD/DEL latency: kubenode-bridge vs reference bridge+host-local, floor = node -e 0');
  const pod = `/run/netns/${prefix}-pod`;
  const binDir = join(tmp, 'bin');
  // The plugins as scripts/install-cni.sh installs them (absolute interpreter, code cache), with
  // Debian's reference plugins linked beside them.
  const inst = spawnSync('bash', [join(ROOT, 'scripts/install-cni.sh')], {
    env: { ...process.env, CNI_BIN_DIR: binDir },
    encoding: 'utf8',
  });
  if (inst.status !== 0) throw new Error(`scripts/install-cni.sh failed: ${inst.stderr}`);
  const data = join(tmp, 'ipam');
  const ours = (n: number, extra: Record<string, unknown> = {}) => ({
    cniVersion: '1.0.0',
    name: `bench${n}`,
    type: 'kubenode-bridge',
    bridge: `${prefix}b${n}`,
    isGateway: true,
    isDefaultGateway: true,
    ipam: { type: 'kubenode-ipam', ranges: [[{ subnet: `10.250.${n}.0/24` }]], dataDir: data },
    ...extra,
  });
  const bridgeBin = join(binDir, 'kubenode-bridge');
  const variants: Variant[] = [
    { label: 'kubenode-bridge', file: bridgeBin, args: [], conf: ours(1) },
    {
      label: 'reference bridge + host-local',
      file: '/usr/lib/cni/bridge',
      args: [],
      conf: {
        ...ours(2),
        type: 'bridge',
        ipam: { type: 'host-local', ranges: [[{ subnet: '10.250.2.0/24' }]], dataDir: data },
      },
    },
    {
      label: 'kubenode-bridge, host links via netlink',
      file: bridgeBin,
      args: [],
      conf: ours(3),
      env: { KUBENODE_CNI_HOST_LINK: 'netlink' },
    },
    {
      label: 'kubenode-bridge, IPAM executed',
      file: bridgeBin,
      args: [],
      conf: ours(4),
      env: { KUBENODE_CNI_IPAM_EXEC: '1' },
    },
    {
      label: 'kubenode-bridge, no code cache',
      file: process.execPath,
      args: [join(ROOT, 'dist/cni/kubenode-bridge.cjs')],
      conf: ours(5),
    },
  ];
  const confFile = (v: Variant) => JSON.stringify(v.conf);
  const env = (v: Variant, cmd: string): NodeJS.ProcessEnv => ({
    ...base,
    CNI_COMMAND: cmd,
    CNI_CONTAINERID: `${prefix}-bench`,
    CNI_NETNS: pod,
    CNI_IFNAME: 'eth0',
    CNI_PATH: binDir,
    ...v.env,
  });
  const time = (file: string, args: string[], input: string, e: NodeJS.ProcessEnv, what: string): number => {
    const t0 = performance.now();
    const r = spawnSync(file, args, { input, env: e });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${what} failed: ${r.stdout}${r.stderr}`);
    return ms;
  };
  // Every process gets the same small environment a CNI runtime would give: the floor and the
  // plugins alike. (This matters: NODE_EXTRA_CA_CERTS, set on some machines, makes every Node.js
  // start parse a CA bundle, tens of milliseconds.)
  const base: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  const emptyFile = join(tmp, 'empty.cjs');
  writeFileSync(emptyFile, '');
  const netlinkPath = join(ROOT, 'node_modules/netlink');
  const floor: number[] = [],
    fileFloor: number[] = [],
    netlinkLoad: number[] = [],
    rtLoad: number[] = [],
    ipSpawn: number[] = [];
  const add = variants.map(() => [] as number[]),
    del = variants.map(() => [] as number[]);
  for (let i = -WARMUP; i < RUNS; i++) {
    const f = time(process.execPath, ['-e', '0'], '', base, 'node -e 0');
    const ff = time(process.execPath, [emptyFile], '', base, 'node empty.cjs');
    const nl = time(process.execPath, ['-e', `require(${JSON.stringify(netlinkPath)})`], '', base, 'require(netlink)');
    const rt = time(
      process.execPath,
      ['-e', `require(${JSON.stringify(join(netlinkPath, 'dist/rt/rt.js'))}).createRtNetlink().socket.close()`],
      '',
      base,
      'require(netlink rt)',
    );
    const ip = time('ip', ['-batch', '-'], 'link show dev lo\n', base, 'ip -batch');
    const runs = variants.map((v, k) => {
      const a = time(v.file, v.args, confFile(v), env(v, 'ADD'), `${v.label} ADD`);
      const d = time(v.file, v.args, confFile(v), env(v, 'DEL'), `${v.label} DEL`);
      return [k, a, d] as const;
    });
    if (i < 0) continue;
    floor.push(f);
    fileFloor.push(ff);
    netlinkLoad.push(nl);
    rtLoad.push(rt);
    ipSpawn.push(ip);
    for (const [k, a, d] of runs) {
      add[k]!.push(a);
      del[k]!.push(d);
    }
  }
  console.log(
    `# ${RUNS} runs each (+${WARMUP} warm-up), interleaved; ADD then DEL of one pod, cniVersion 1.0.0, isGateway, default route`,
  );
  const fl = report('floor: node -e 0', floor);
  const ffl = report('node empty.cjs (running a file)', fileFloor);
  const st: Stats[][] = variants.map((v, k) => [report(`${v.label} ADD`, add[k]!), report(`${v.label} DEL`, del[k]!)]);
  console.log('#');
  ratio('kubenode-bridge ADD / node -e 0', st[0]![0]!, fl, 1.3);
  ratio('kubenode-bridge ADD / node empty.cjs', st[0]![0]!, ffl);
  // On a shared machine the medians carry other programs' load; the fastest runs show the
  // plugin's own cost most clearly, so print that ratio too.
  console.log(
    `${'kubenode-bridge ADD / node -e 0, fastest runs'.padEnd(44)} min ${st[0]![0]!.min.toFixed(1)} / ${fl.min.toFixed(1)} ms = ${(st[0]![0]!.min / fl.min).toFixed(2)}x (reference ADD min ${st[1]![0]!.min.toFixed(1)} ms)`,
  );
  ratio('kubenode-bridge DEL / node -e 0', st[0]![1]!, fl);
  ratio('kubenode-bridge ADD / reference ADD', st[0]![0]!, st[1]![0]!);
  ratio('kubenode-bridge DEL / reference DEL', st[0]![1]!, st[1]![1]!);
  console.log('# netlink vs iproute2 for the host side of ADD (same plugin, same pod side):');
  ratio('netlink ADD / iproute2 ADD', st[2]![0]!, st[0]![0]!);
  const nlCost = report('node: require(netlink) (whole package)', netlinkLoad);
  const rtCost = report('node: require(netlink rt) + open socket', rtLoad);
  const ipCost = report('ip -batch (one small batch)', ipSpawn);
  console.log(
    `${'netlink cost over the floor'.padEnd(44)} whole package ${(nlCost.median - fl.median).toFixed(1)} ms, rtnetlink part ${(rtCost.median - fl.median).toFixed(1)} ms; one ip -batch process ${ipCost.median.toFixed(1)} ms`,
  );
  console.log('# what the design choices save (median ADD, variant minus kubenode-bridge):');
  for (const k of [3, 4])
    console.log(`${variants[k]!.label.padEnd(44)} +${(stats(add[k]!).median - st[0]![0]!.median).toFixed(1)} ms`);
}

if (process.argv[2] === '--inner') inner(process.argv[3]!, process.argv[4]!);
else outer();
