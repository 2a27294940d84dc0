// The Services and EndpointSlices the proxy benchmarks load: Service i has ClusterIP
// 10.96.(i>>8).(i&255), one TCP port, every tenth a NodePort, and `count` ready endpoints.
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';

export const ENDPOINTS = 5;

export function benchService(i: number): V1Service {
  const nodePort = i % 10 === 0;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `svc-${i}`, namespace: 'bench' },
    spec: {
      type: nodePort ? 'NodePort' : 'ClusterIP',
      clusterIP: `10.96.${i >> 8}.${i & 255}`,
      ports: [
        {
          name: 'http',
          port: 80,
          targetPort: 8080,
          protocol: 'TCP',
          ...(nodePort ? { nodePort: 30000 + i / 10 } : {}),
        },
      ],
    },
  };
}

export function benchSlice(i: number, count = ENDPOINTS): V1EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `svc-${i}-x`, namespace: 'bench', labels: { 'kubernetes.io/service-name': `svc-${i}` } },
    addressType: 'IPv4',
    endpoints: Array.from({ length: count }, (_, e) => {
      const idx = i * ENDPOINTS + e;
      return { addresses: [`10.244.${idx >> 8}.${idx & 255}`], nodeName: 'bench-node', conditions: { ready: true } };
    }),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
}
