// The two areas the agent uses but does not own, imported in one place so the rest of the agent
// names them once: the CNI runtime side (agent/network/) and the prober (agent/prober/). Their
// shapes are the interfaces those modules export.
export { CniNetwork } from './network/cni.js';
export type { PodNetworkRequest, PodNetworkStatus } from './network/cni.js';
export { ProbeManager, validateProbes } from './prober/manager.js';
export type { ProbeChange, ProbeTarget, FieldError } from './prober/manager.js';
export { dockerProbeTarget } from './runtime/docker-target.js';
export { dockerExec } from './runtime/docker-exec.js';
