// Validation of a pod from a local source (file, URL, manifest server), on the fields the agent
// relies on. Each error names the field by its path ("spec.containers[1].resources.limits.cpu")
// and why, as the apiserver's field errors do; the caller adds which file or URL it came from.
// This file checks the pod and its volumes; each container is container-validation.ts's.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/apis/core/validation/validation.go
import type { V1Container, V1Pod, V1PodSpec, V1Volume } from '@kubernetes/client-node';
import { listItems } from '../../lib/list-items.js';
import { validateProbes, type FieldError } from './probe-validation.js';
import { checkName, checkQuantity, dns1123Label, dns1123Subdomain, isObject, notObject } from './field-validation.js';
import { validateContainer } from './container-validation.js';
import { errorMessage } from '../../lib/errors.js';

export type { FieldError };

export const hostPathTypes = [
  '',
  'DirectoryOrCreate',
  'Directory',
  'FileOrCreate',
  'File',
  'Socket',
  'CharDevice',
  'BlockDevice',
];

/**
 * Field errors of a pod; empty when it is acceptable. `obj` is whatever the manifest held: a
 * document that is not a Pod at all is reported on `kind`.
 */
export function validatePod(obj: unknown): FieldError[] {
  const errs: FieldError[] = [];
  if (!isObject(obj)) return [{ field: '<root>', reason: 'expected a Pod object' }];
  if (obj.kind !== 'Pod')
    return [{ field: 'kind', reason: `expected "Pod", got ${JSON.stringify(obj.kind ?? null)}: this is not a Pod` }];
  if (obj.apiVersion !== undefined && obj.apiVersion !== 'v1')
    return [{ field: 'apiVersion', reason: `expected "v1", got ${JSON.stringify(obj.apiVersion)}` }];
  const pod = obj as V1Pod;
  const md = pod.metadata;
  if (!isObject(md)) return [{ field: 'metadata', reason: 'Required value' }];
  checkName(
    errs,
    'metadata.name',
    md.name,
    dns1123Subdomain,
    253,
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'",
  );
  if (md.namespace !== undefined)
    checkName(
      errs,
      'metadata.namespace',
      md.namespace,
      dns1123Label,
      63,
      "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'",
    );
  const spec = pod.spec;
  if (!isObject(spec)) return [...errs, { field: 'spec', reason: 'Required value' }];
  if (!Array.isArray(spec.containers) || spec.containers.length === 0)
    errs.push({ field: 'spec.containers', reason: 'Required value: a pod must have at least one container' });
  if (spec.initContainers !== undefined && !Array.isArray(spec.initContainers))
    errs.push({ field: 'spec.initContainers', reason: 'must be a list' });
  if (spec.restartPolicy !== undefined && !['Always', 'OnFailure', 'Never'].includes(spec.restartPolicy))
    errs.push({
      field: 'spec.restartPolicy',
      reason: `Unsupported value: ${JSON.stringify(spec.restartPolicy)}: supported values: "Always", "OnFailure", "Never"`,
    });
  const g = spec.terminationGracePeriodSeconds;
  if (g !== undefined && (!Number.isInteger(g) || g < 0))
    errs.push({ field: 'spec.terminationGracePeriodSeconds', reason: 'must be greater than or equal to 0' });

  const volumeNames = validateVolumes(errs, spec);
  validateContainers(errs, spec, volumeNames);
  // Probe fields are the prober's to judge; a pod too malformed for it is already rejected above.
  if (Array.isArray(spec.containers)) {
    try {
      errs.push(...validateProbes(pod));
    } catch (e) {
      errs.push({ field: 'spec.containers', reason: `invalid probes: ${errorMessage(e)}` });
    }
  }
  return errs;
}

/** The pod's volumes (unique names, one source each, hostPath and emptyDir fields); returns their names. */
function validateVolumes(errs: FieldError[], spec: V1PodSpec): Set<string> {
  const volumeNames = new Set<string>();
  for (const [v, f] of listItems<V1Volume>(errs, 'spec.volumes', spec.volumes)) {
    checkName(errs, `${f}.name`, v.name, dns1123Label, 63, 'a lowercase RFC 1123 label');
    if (volumeNames.has(v.name))
      errs.push({ field: `${f}.name`, reason: `Duplicate value: ${JSON.stringify(v.name)}` });
    volumeNames.add(v.name);
    const sources = Object.keys(v).filter((k) => k !== 'name');
    if (sources.length > 1)
      errs.push({ field: f, reason: `may not specify more than 1 volume type (got ${sources.join(', ')})` });
    if (v.hostPath !== undefined && notObject(v.hostPath))
      errs.push({ field: `${f}.hostPath`, reason: 'must be an object' });
    else if (v.hostPath) {
      if (typeof v.hostPath.path !== 'string' || !v.hostPath.path.startsWith('/'))
        errs.push({ field: `${f}.hostPath.path`, reason: 'must be an absolute path' });
      if (v.hostPath.type !== undefined && !hostPathTypes.includes(v.hostPath.type))
        errs.push({
          field: `${f}.hostPath.type`,
          reason: `Unsupported value: ${JSON.stringify(v.hostPath.type)}: supported values: ${hostPathTypes.map((t) => JSON.stringify(t)).join(', ')}`,
        });
    }
    if (v.emptyDir !== undefined && v.emptyDir !== null && notObject(v.emptyDir))
      errs.push({ field: `${f}.emptyDir`, reason: 'must be an object' });
    else if (v.emptyDir) {
      if (v.emptyDir.medium !== undefined && !['', 'Memory'].includes(v.emptyDir.medium))
        errs.push({
          field: `${f}.emptyDir.medium`,
          reason: `Unsupported value: ${JSON.stringify(v.emptyDir.medium)}: supported values: "", "Memory"`,
        });
      if (v.emptyDir.sizeLimit !== undefined) checkQuantity(errs, `${f}.emptyDir.sizeLimit`, v.emptyDir.sizeLimit);
    }
  }
  return volumeNames;
}

/** Every init and app container, in that order. */
function validateContainers(errs: FieldError[], spec: V1PodSpec, volumeNames: Set<string>): void {
  // Container names are unique across init and app containers: they name the container in status,
  // logs and the Docker container name.
  const names = new Map<string, string>();
  const all: [V1Container, string, boolean][] = [
    ...(Array.isArray(spec.initContainers) ? spec.initContainers : []).map(
      (c, i) => [c, `spec.initContainers[${i}]`, true] as [V1Container, string, boolean],
    ),
    ...(Array.isArray(spec.containers) ? spec.containers : []).map(
      (c, i) => [c, `spec.containers[${i}]`, false] as [V1Container, string, boolean],
    ),
  ];
  for (const [c, f, isInit] of all) {
    validateContainer(errs, c, f, volumeNames, isInit);
    if (isObject(c) && typeof c.name === 'string') {
      if (names.has(c.name))
        errs.push({
          field: `${f}.name`,
          reason: `Duplicate value: ${JSON.stringify(c.name)} (also ${names.get(c.name)}.name)`,
        });
      else names.set(c.name, f);
    }
  }
}
