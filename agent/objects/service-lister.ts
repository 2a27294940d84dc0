// Services for the environment variables of pods (pods/service-env.ts), as kubelet's
// serviceLister: one list+watch of every Service (the Node authorizer lets a node list and watch
// them), kept as a cache that container starts read without asking the apiserver.
//
// `hasSynced()` is false until the first list succeeded: kubelet refuses to build the environment
// of an apiserver pod before that (so KUBERNETES_SERVICE_HOST is never silently missing after a
// restart), and so does the agent (pods/service-env.ts).
import { CoreV1Api, type KubeConfig, type V1Service, type V1ServiceList } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { requestOptions } from '../kube/client.js';
import { ReconnectingListWatch } from '../kube/list-watch.js';
import type { ServiceLister } from './types.js';

export class ApiServiceLister implements ServiceLister {
  private readonly watch: ReconnectingListWatch<V1Service>;
  private synced = false;

  constructor(o: { kubeConfig: KubeConfig; logger: Logger }) {
    const core = o.kubeConfig.makeApiClient(CoreV1Api);
    const list = async (): Promise<V1ServiceList> => {
      const l = await core.listServiceForAllNamespaces({}, requestOptions({ timeoutMs: 30_000 }));
      if (!this.synced) o.logger.info('listed services; watching', { services: l.items.length });
      this.synced = true;
      this.watch.resetBackoff();
      return l;
    };
    this.watch = new ReconnectingListWatch<V1Service>({
      kubeConfig: o.kubeConfig,
      path: '/api/v1/services',
      list,
      logger: o.logger,
      what: 'service watch',
    });
  }

  start(): void {
    this.watch.start();
  }

  hasSynced(): boolean {
    return this.synced;
  }

  list(): V1Service[] {
    return [...this.watch.informer.list()];
  }

  stop(): Promise<void> {
    return this.watch.stop();
  }
}
