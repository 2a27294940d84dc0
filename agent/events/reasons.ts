// kubelet's event reasons (pkg/kubelet/events/event.go). Only the short reason strings are
// kubelet's; messages are written at the call sites in the same shape.
export const REASON = {
  // containers
  Created: 'Created',
  Started: 'Started',
  Failed: 'Failed',
  Killing: 'Killing',
  BackOff: 'BackOff',
  ExceededGracePeriod: 'ExceededGracePeriod',
  // images
  Pulling: 'Pulling',
  Pulled: 'Pulled',
  ErrImageNeverPull: 'ErrImageNeverPull',
  InspectFailed: 'InspectFailed',
  // probes
  Unhealthy: 'Unhealthy',
  ProbeWarning: 'ProbeWarning',
  // lifecycle hooks
  FailedPostStartHook: 'FailedPostStartHook',
  FailedPreStopHook: 'FailedPreStopHook',
  // pod / sandbox / volumes
  FailedCreatePodSandBox: 'FailedCreatePodSandBox',
  SandboxChanged: 'SandboxChanged',
  FailedKillPod: 'FailedKillPod',
  FailedMount: 'FailedMount',
  // node
  Starting: 'Starting',
  NodeReady: 'NodeReady',
  NodeNotReady: 'NodeNotReady',
} as const;
