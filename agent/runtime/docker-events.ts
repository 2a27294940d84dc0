// Docker's event stream for this agent's containers (start, die, oom, destroy, stop, kill),
// read line by line and reconnected when it breaks; docker.ts turns each into a RuntimeEvent.
import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import type { Logger } from '../../lib/log.js';
import { LABELS } from './naming.js';

/**
 * Each event's action, container id and labels (its Actor's attributes), in order. Returns the
 * function that stops following.
 */
export function followContainerEvents(
  docker: Docker,
  instance: string,
  logger: Logger,
  onEvent: (action: string, id: string, attributes?: Record<string, string>) => void,
): () => void {
  let stopped = false;
  let current: Readable | undefined;
  const connect = async () => {
    while (!stopped) {
      try {
        const stream = (await docker.getEvents({
          filters: {
            type: ['container'],
            label: [`${LABELS.instance}=${instance}`],
            event: ['start', 'die', 'oom', 'destroy', 'stop', 'kill'],
          },
        })) as unknown as Readable;
        current = stream;
        let buf = '';
        await new Promise<void>((resolve) => {
          stream.on('data', (chunk: Buffer) => {
            buf += chunk.toString('utf8');
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl).trim();
              buf = buf.slice(nl + 1);
              if (!line) continue;
              try {
                const ev = JSON.parse(line) as {
                  Action?: string;
                  status?: string;
                  id?: string;
                  Actor?: { ID?: string; Attributes?: Record<string, string> };
                };
                const id = ev.Actor?.ID ?? ev.id ?? '';
                const action = ev.Action ?? ev.status ?? '';
                onEvent(action, id, ev.Actor?.Attributes);
              } catch {
                /* a partial line: ignored */
              }
            }
          });
          stream.on('end', () => resolve());
          stream.on('close', () => resolve());
          stream.on('error', () => resolve());
        });
      } catch (e) {
        if (!stopped) logger.warn('docker event stream failed; retrying', { error: e as Error });
      }
      if (!stopped) await new Promise((r) => setTimeout(r, 1000));
    }
  };
  void connect();
  return () => {
    stopped = true;
    current?.destroy();
  };
}
