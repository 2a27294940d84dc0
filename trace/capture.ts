// One trace, kernel side: start `nft monitor`, add our tracing table, wait until the monitor
// sees changes to it, add the rules that mark the flow, then run the command (or just wait) until the first packet of the flow has been traced
// or the timeout passes. The table is deleted on every way out: normal return, an exception,
// SIGINT/SIGTERM (handlers below); a SIGKILL leaves it to the next run's sweep (its pid is gone).
import { spawn } from 'node:child_process';
import { addMarkRules, addProbeChain, createTraceTable, deleteTraceTable, type Netns } from './kernel.js';
import { type Monitor, startMonitor } from './monitor.js';
import { PacketAssembler, type PacketTrace, parseTraceLine } from './nft-trace.js';
import type { TracedFlow } from './table.js';

export interface CaptureOptions {
  command?: string[];
  timeoutMs: number;
  /** How long to keep listening after the first packet, for the rest of its path. */
  settleMs?: number;
}

export interface Capture {
  packets: PacketTrace[];
  commandExit?: number;
}

// Unref'd: a timer that lost its race must not keep the process alive after the report.
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** Run the command in the namespace; its output goes to our stderr (stdout is the report). */
function runCommand(ns: Netns, command: string[]): { done: Promise<number>; kill(): void } {
  const [file, args] = ns.command(command[0]!, command.slice(1));
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(process.stderr, { end: false });
  child.stderr.pipe(process.stderr, { end: false });
  const done = new Promise<number>((resolve) => {
    child.on('error', () => resolve(127));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  return {
    done,
    kill: () => {
      if (child.exitCode === null) child.kill('SIGTERM');
    },
  };
}

/**
 * `nft monitor` subscribes some time after it starts, and a packet marked before then would be
 * missed: add probe chains to our table until the monitor prints one.
 */
async function untilListening(ns: Netns, table: string, monitor: Monitor): Promise<void> {
  for (let i = 0; ; i++) {
    const seen = monitor
      .waitFor((l) => l.startsWith(`add chain ip ${table} ready${i}`), 500)
      .then(
        () => true,
        () => false,
      );
    await addProbeChain(ns, table, `ready${i}`);
    if (await seen) return;
    if (i >= 40) throw new Error(`nft monitor saw none of ${i + 1} changes to table ${table}`);
  }
}

export async function capture(ns: Netns, table: string, flow: TracedFlow, opts: CaptureOptions): Promise<Capture> {
  const assembler = new PacketAssembler(table);
  let sawPacket!: () => void;
  const firstPacket = new Promise<void>((r) => (sawPacket = r));
  const monitor = startMonitor(ns, (line) => {
    const e = parseTraceLine(line);
    if (e && assembler.add(e)) sawPacket();
  });
  let command: ReturnType<typeof runCommand> | undefined;
  const cleanup = async () => {
    monitor.stop();
    command?.kill();
    await deleteTraceTable(ns, table);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await createTraceTable(ns, table, flow);
    await untilListening(ns, table, monitor);
    await addMarkRules(ns, table, flow);
    if (opts.command) command = runCommand(ns, opts.command);
    const ended = command
      ? command.done.then(() => sleep(opts.settleMs ?? 500)).then(() => false)
      : new Promise<boolean>(() => {});
    const seen = await Promise.race([firstPacket.then(() => true), sleep(opts.timeoutMs).then(() => false), ended]);
    let commandExit: number | undefined;
    if (command) {
      // The rest of the command's exchange is not needed; a command that hangs is stopped.
      commandExit = await Promise.race([command.done, sleep(seen ? opts.timeoutMs : 0).then(() => undefined)]);
    }
    if (seen) await sleep(opts.settleMs ?? 500);
    return { packets: seen ? assembler.packets : [], ...(commandExit !== undefined ? { commandExit } : {}) };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}
