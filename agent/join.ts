// kubenode-join: token discovery for scripts/node.sh (kubeadm join's discovery phase): from the
// apiserver's address and a bootstrap token (and the CA pin), writes the bootstrap kubeconfig the
// agent's --bootstrap-kubeconfig reads and the cluster CA (for the agent's --client-ca-file).
//
//   node dist/agent/join.js --apiserver https://HOST:PORT --token ID.SECRET [--ca-cert-hash sha256:HEX]
//                           --bootstrap-kubeconfig FILE --ca-file FILE [--timeout 5m]
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseDuration } from './config/duration.js';
import { bootstrapKubeconfigYaml, discover, parseBootstrapToken } from './certificate/discovery.js';
import { parseCaCertHash } from './certificate/ca-hash.js';
import { errorMessage } from '../lib/errors.js';

const fail = (msg: string, code = 1): never => {
  process.stderr.write(`kubenode-join: ${msg}\n`);
  process.exit(code);
};

const USAGE = `Usage: kubenode-join --apiserver https://HOST:PORT --token ID.SECRET [--ca-cert-hash sha256:HEX]
                     --bootstrap-kubeconfig FILE --ca-file FILE [--timeout 5m]

Token discovery (kubeadm join's): reads kube-public/cluster-info from the apiserver without
credentials, checks its signature with the bootstrap token and the CA against --ca-cert-hash,
then writes the bootstrap kubeconfig (for kubenode-agent --bootstrap-kubeconfig) and the CA.
`;
const flags: Record<string, string> = {};
const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(USAGE);
  process.exit(0);
}
for (let i = 0; i < argv.length; i++) {
  const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]!);
  if (!m || !['apiserver', 'token', 'ca-cert-hash', 'bootstrap-kubeconfig', 'ca-file', 'timeout'].includes(m[1]!))
    fail(`unexpected argument ${JSON.stringify(argv[i])}`, 2);
  const v = m![2] ?? argv[++i];
  if (v === undefined) fail(`--${m![1]} needs a value`, 2);
  flags[m![1]!] = v!;
}
for (const f of ['apiserver', 'token', 'bootstrap-kubeconfig', 'ca-file']) if (!flags[f]) fail(`--${f} is required`, 2);
let apiserver: URL;
try {
  apiserver = new URL(flags.apiserver!);
  if (apiserver.protocol !== 'https:') throw new Error('not https');
} catch {
  fail(`--apiserver ${flags.apiserver}: expected https://HOST:PORT`, 2);
}

const write = (path: string, text: string) => {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, text, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
};

try {
  const token = parseBootstrapToken(flags.token!);
  if (flags['ca-cert-hash']) parseCaCertHash(flags['ca-cert-hash']); // a malformed pin fails now, not after retries
  const { caPem } = await discover({
    apiserver: apiserver!.origin,
    token,
    caHash: flags['ca-cert-hash'] || undefined,
    timeoutMs: flags.timeout ? parseDuration(flags.timeout) : 300_000,
    log: (m) => process.stderr.write(`kubenode-join: ${m}\n`),
  });
  write(flags['ca-file']!, caPem);
  write(flags['bootstrap-kubeconfig']!, bootstrapKubeconfigYaml(apiserver!.origin, caPem, token));
  process.stdout.write(
    `cluster-info from ${apiserver!.origin} verified with token ${token.id}${flags['ca-cert-hash'] ? ' and the CA pin' : ''}; bootstrap kubeconfig ${flags['bootstrap-kubeconfig']}\n`,
  );
} catch (e) {
  fail(errorMessage(e));
}
