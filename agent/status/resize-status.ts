// The parts of a pod's status that 1.34's kubelet adds for in-place resize and generation
// tracking, laid over the status status.ts generates (pure):
//  - the PodResizePending / PodResizeInProgress conditions the allocation manager holds (before
//    the kubelet's own conditions, as generateAPIPodStatus orders them; none once terminal);
//  - containerStatuses[].resources (the allocation, with CPU and memory as the runtime applies
//    them) and allocatedResources (the allocated requests), for every container the runtime has;
//  - status.observedGeneration and each kubelet condition's observedGeneration: the generation of
//    the pod spec the status was made from (PodObservedGenerationTracking, beta and on in 1.34).
// https://github.com/kubernetes/kubernetes/blob/v1.34.4/pkg/kubelet/kubelet_pods.go
import type { V1Container, V1ContainerStatus, V1Pod, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';
import type { PodRuntimeStatus } from '../runtime/types.js';
import { statusResources } from '../runtime/resize-plan.js';

export interface ResizeStatusInput {
  /** The pod as allocated (the pod worker's). */
  pod: V1Pod;
  runtime: PodRuntimeStatus;
  resizeConditions: V1PodCondition[];
  podIsTerminal?: boolean;
}

function addResources(statuses: V1ContainerStatus[] | undefined, specs: V1Container[], rt: PodRuntimeStatus): void {
  for (const s of statuses ?? []) {
    const c = specs.find((x) => x.name === s.name);
    const rc = rt.containers.find((x) => x.name === s.name);
    if (!c || !rc) continue;
    s.resources = statusResources(c, rc);
    if (c.resources?.requests) s.allocatedResources = { ...c.resources.requests };
  }
}

export function addResizeStatus(status: V1PodStatus, i: ResizeStatusInput): V1PodStatus {
  const generation = i.pod.metadata?.generation;
  const spec = i.pod.spec;
  addResources(status.containerStatuses, spec?.containers ?? [], i.runtime);
  addResources(status.initContainerStatuses, spec?.initContainers ?? [], i.runtime);
  addResources(status.ephemeralContainerStatuses, (spec?.ephemeralContainers ?? []) as V1Container[], i.runtime);
  if (generation) {
    status.observedGeneration = generation;
    for (const c of status.conditions ?? []) c.observedGeneration = generation;
  }
  const terminal = i.podIsTerminal || status.phase === 'Succeeded' || status.phase === 'Failed';
  if (!terminal && i.resizeConditions.length)
    status.conditions = [...i.resizeConditions.map((c) => ({ ...c })), ...(status.conditions ?? [])];
  return status;
}
