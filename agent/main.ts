// kubenode-agent's entry point: flags (and --config), start the agent, stop it on SIGTERM/SIGINT.
// Stopping the agent does not stop pods: a restarted agent adopts them.
import { createLogger } from '../lib/log.js';
import { loadFaultPoints } from '../lib/faultpoints.js';
import { Agent } from './agent.js';
import { parseArgs, usage } from './config/config.js';
import { errorMessage } from '../lib/errors.js';

const logger = createLogger('agent');

function fail(message: string, code: number): never {
  process.stderr.write(`kubenode-agent: ${message}\n`);
  process.exit(code);
}

let parsed: ReturnType<typeof parseArgs>;
try {
  parsed = parseArgs(process.argv.slice(2));
} catch (e) {
  fail(errorMessage(e), 2);
}
if (parsed === 'help') {
  process.stdout.write(usage() + '\n');
  process.exit(0);
}

// Fault points for tests (lib/faultpoints.ts): inert unless KUBENODE_FAULTPOINTS is set.
try {
  const points = loadFaultPoints();
  if (points.length)
    logger.warn('fault points armed (KUBENODE_FAULTPOINTS): the agent will fail on purpose', { points });
} catch (e) {
  fail(errorMessage(e), 2);
}

// A bug in one pod's handling must not take every other pod's agent down with it.
process.on('unhandledRejection', (e) =>
  logger.error('unhandled rejection', { error: (e as Error)?.stack ?? String(e) }),
);

const agent = new Agent(parsed, logger);
try {
  await agent.start();
} catch (e) {
  logger.error('agent failed to start', { error: errorMessage(e) });
  fail(errorMessage(e), 1);
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    logger.info('stopping agent (pods keep running)', { signal });
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    void agent.stop().finally(() => process.exit(0));
  });
}
