// Registration when the Node already exists (this node ran before): kubelet adopts it rather
// than failing, bringing the labels and annotations it sets up to date.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/kubelet_node_status.go (tryRegisterWithAPIServer)
import type { CoreV1Api, V1Node, V1Taint } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { requestOptions } from '../kube/client.js';
import { DEFAULT_ANNOTATIONS, missingEntries } from './node-object.js';

/**
 * Reads the existing Node and patches in the labels and annotations kubenode sets that it lacks.
 * Taints are not brought up to date (kubelet only sets them at creation, and NodeRestriction
 * forbids a node changing its own): the ones it lacks are only logged.
 */
export async function adoptExistingNode(o: {
  core: CoreV1Api;
  nodeName: string;
  labels: Record<string, string>;
  registerWithTaints: V1Taint[];
  timeoutMs: number;
  log: Logger;
}): Promise<V1Node> {
  let node = await o.core.readNode({ name: o.nodeName }, requestOptions({ timeoutMs: o.timeoutMs }));
  const labels = missingEntries(node.metadata?.labels, o.labels);
  const annotations = missingEntries(node.metadata?.annotations, DEFAULT_ANNOTATIONS);
  if (labels || annotations) {
    node = await o.core.patchNode(
      { name: o.nodeName, body: { metadata: { labels, annotations } } },
      requestOptions({ timeoutMs: o.timeoutMs, patch: 'StrategicMergePatch' }),
    );
  }
  o.log.info('the Node already exists; adopted it', {
    uid: node.metadata?.uid,
    updatedLabels: Object.keys(labels ?? {}),
  });
  const has = node.spec?.taints ?? [];
  const absent = o.registerWithTaints.filter(
    (w) => !has.some((h) => h.key === w.key && (h.value ?? '') === (w.value ?? '') && h.effect === w.effect),
  );
  if (absent.length)
    o.log.warn(
      'registerWithTaints applies when the Node is created; the existing Node lacks these taints (add them with kubectl taint)',
      { taints: absent.map((x) => `${x.key}${x.value ? `=${x.value}` : ''}:${x.effect}`) },
    );
  return node;
}
