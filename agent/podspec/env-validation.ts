// Validation of a container's env and envFrom: variable names, prefixes, and each valueFrom's
// source (a field path or resource the agent can resolve, see env.ts).
// https://github.com/kubernetes/kubernetes/blob/master/pkg/apis/core/validation/validation.go (ValidateEnv)
import type { V1Container, V1EnvFromSource, V1EnvVar } from '@kubernetes/client-node';
import { listItems } from '../../lib/list-items.js';
import type { FieldError } from './probe-validation.js';
import { checkQuantity, notObject } from './field-validation.js';
import { ENV_VAR_NAME_RULE, isEnvVarName } from './env.js';

export const supportedFieldPaths = [
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'spec.nodeName',
  'spec.serviceAccountName',
  'status.hostIP',
  'status.hostIPs',
  'status.podIP',
  'status.podIPs',
];
const fieldPathPattern = /^metadata\.(labels|annotations)\['[^']+'\]$/;

/** The container's env entries and envFrom sources. */
export function validateContainerEnv(errs: FieldError[], c: V1Container, field: string): void {
  for (const [e, f] of listItems<V1EnvVar>(errs, `${field}.env`, c.env)) {
    if (typeof e.name !== 'string' || !isEnvVarName(e.name))
      errs.push({ field: `${f}.name`, reason: `Invalid value ${JSON.stringify(e.name)}: ${ENV_VAR_NAME_RULE}` });
    if (e.value !== undefined && e.valueFrom !== undefined)
      errs.push({ field: `${f}.valueFrom`, reason: 'may not be specified when `value` is not empty' });
    checkEnvVarSource(errs, f, e.valueFrom);
  }

  for (const [e, f] of listItems<V1EnvFromSource>(errs, `${field}.envFrom`, c.envFrom)) {
    if (e.prefix !== undefined && e.prefix !== '' && (typeof e.prefix !== 'string' || !isEnvVarName(e.prefix)))
      errs.push({ field: `${f}.prefix`, reason: `Invalid value ${JSON.stringify(e.prefix)}: ${ENV_VAR_NAME_RULE}` });
  }
}

/** An env var's valueFrom: exactly one source, and a field path or resource kubelet can resolve. */
function checkEnvVarSource(errs: FieldError[], f: string, vf: V1EnvVar['valueFrom']): void {
  if (vf !== undefined && notObject(vf)) errs.push({ field: `${f}.valueFrom`, reason: 'must be an object' });
  else if (vf) {
    const kinds = ['fieldRef', 'resourceFieldRef', 'configMapKeyRef', 'secretKeyRef'].filter(
      (k) => (vf as Record<string, unknown>)[k] !== undefined,
    );
    if (kinds.length !== 1)
      errs.push({
        field: `${f}.valueFrom`,
        reason: 'must specify exactly one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`',
      });
    const fp = vf.fieldRef?.fieldPath;
    if (vf.fieldRef && !(supportedFieldPaths.includes(fp ?? '') || fieldPathPattern.test(fp ?? '')))
      errs.push({
        field: `${f}.valueFrom.fieldRef.fieldPath`,
        reason: `Unsupported value: ${JSON.stringify(fp)}: supported values: ${supportedFieldPaths.map((s) => JSON.stringify(s)).join(', ')}, metadata.labels['<key>'], metadata.annotations['<key>']`,
      });
    const rf = vf.resourceFieldRef;
    if (
      rf &&
      ![
        'limits.cpu',
        'limits.memory',
        'requests.cpu',
        'requests.memory',
        'limits.ephemeral-storage',
        'requests.ephemeral-storage',
      ].includes(rf.resource)
    )
      errs.push({
        field: `${f}.valueFrom.resourceFieldRef.resource`,
        reason: `Unsupported value: ${JSON.stringify(rf.resource)}`,
      });
    if (rf?.divisor !== undefined) checkQuantity(errs, `${f}.valueFrom.resourceFieldRef.divisor`, rf.divisor);
  }
}
