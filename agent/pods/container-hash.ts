// The hash a container instance is labelled with, and whether a running instance still matches
// its spec (kubelet's HashContainer and its use in computePodActions).
import type { V1Container } from '@kubernetes/client-node';
import { hashObject } from '../podspec/hash.js';

/**
 * The hash a container's spec is recorded under; a change means the container must be replaced.
 * CPU and memory (resources, resizePolicy) are left out: since in-place resize (1.27, beta and
 * on by default in 1.33) a resize is applied to the running container or restarts it as its
 * resizePolicy says (runtime/resize-plan.ts), never through a changed hash. (kubelet hashes only name and
 * image; we keep the rest, which other sources than the apiserver may change under one UID.)
 */
export function containerHash(c: V1Container): string {
  const { resources: _r, resizePolicy: _p, ...rest } = c;
  return hashObject(rest);
}

/**
 * Does a running instance's hash label say it was made from this spec? Containers made by an
 * agent from before in-place resize carry a hash of the whole spec: accepted too, so that an
 * upgraded agent adopts them instead of restarting every container once.
 */
export function sameSpec(hash: string, c: V1Container): boolean {
  return hash === containerHash(c) || hash === hashObject(c);
}
