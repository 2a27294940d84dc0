// The IPVS planner is pure: Services and endpoints in, virtual servers, kube-ipvs0 addresses and
// ipset entries out. These tests check what each kind of Service produces.
import t from 'tap';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { parseEndpointSlice } from '../../proxy/model/endpoint-slice.js';
import { parseService } from '../../proxy/model/service.js';
import type { Endpoint, ProxyState, ServicePort } from '../../proxy/model/types.js';
import { planIpvs } from '../../proxy/ipvs/planner.js';
import { parseScheduler } from '../../proxy/ipvs/scheduler.js';
import type { IpvsPlanConfig } from '../../proxy/ipvs/types.js';

const cfg: IpvsPlanConfig = {
  nodeName: 'node-1',
  scheduler: 'rr',
  nodePortIPs: ['192.0.2.1', '10.244.1.1'],
  clusterCIDR: '10.244.0.0/16',
  masqueradeAll: false,
  masqueradeMark: '0x4000',
};

interface Ep {
  ip: string;
  node?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

function state(
  objs: Array<{ svc: Record<string, unknown>; status?: Record<string, unknown>; eps?: Ep[]; name?: string }>,
): ProxyState {
  const services = new Map<string, ServicePort[]>();
  const endpoints = new Map<string, Endpoint[]>();
  for (const o of objs) {
    const name = o.name ?? 'web';
    const parsed = parseService({
      metadata: { name, namespace: 'default' },
      spec: { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, protocol: 'TCP' }], ...o.svc },
      status: o.status,
    } as V1Service);
    if (parsed.errors.length) throw new Error(JSON.stringify(parsed.errors));
    services.set(parsed.key!, parsed.ports);
    if (o.eps) {
      const slice = parseEndpointSlice({
        metadata: { name: `${name}-x`, namespace: 'default', labels: { 'kubernetes.io/service-name': name } },
        addressType: 'IPv4',
        endpoints: o.eps.map((e) => ({
          addresses: [e.ip],
          nodeName: e.node ?? 'node-1',
          conditions: {
            ready: e.ready ?? true,
            serving: e.serving ?? e.ready ?? true,
            terminating: e.terminating ?? false,
          },
        })),
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      } as V1EndpointSlice);
      for (const [k, v] of slice.ports) endpoints.set(k, v);
    }
  }
  return { services, endpoints, changed: new Set() };
}

const rs = (plan: ReturnType<typeof planIpvs>, key: string) =>
  plan.virtualServers.get(key)?.realServers.map((r) => `${r.address}:${r.port}/${r.weight}`);
const entries = (plan: ReturnType<typeof planIpvs>, set: string) => [...plan.ipsets.get(set)!].sort();

t.test('ClusterIP: one virtual server, every ready endpoint at weight 1, address and ipsets', async (t) => {
  const plan = planIpvs(
    state([{ svc: {}, eps: [{ ip: '10.244.1.11' }, { ip: '10.244.1.12' }, { ip: '10.244.1.13', ready: false }] }]),
    cfg,
  );
  t.same([...plan.virtualServers.keys()], ['TCP/10.96.0.10:80']);
  const vs = plan.virtualServers.get('TCP/10.96.0.10:80')!;
  t.match(vs, { scheduler: 'rr', persistenceSeconds: 0, servicePort: 'default/web:http' });
  t.same(
    rs(plan, 'TCP/10.96.0.10:80'),
    ['10.244.1.11:8080/1', '10.244.1.12:8080/1'],
    'the unready endpoint is not a real server',
  );
  t.same(plan.boundAddresses, ['10.96.0.10']);
  t.same(entries(plan, 'KUBE-CLUSTER-IP'), ['10.96.0.10,tcp:80']);
  t.same(
    entries(plan, 'KUBE-LOOP-BACK'),
    ['10.244.1.11,tcp:8080,10.244.1.11', '10.244.1.12,tcp:8080,10.244.1.12'],
    'hairpin entries per real server',
  );
  t.same(entries(plan, 'KUBE-IPVS-IPS'), ['10.96.0.10']);
  t.same(entries(plan, 'KUBE-NODE-PORT-TCP'), []);
});

t.test('NodePort: a virtual server per node address; ETP Local keeps local endpoints and marks the port', async (t) => {
  const eps = [{ ip: '10.244.1.11' }, { ip: '10.244.2.11', node: 'node-2' }];
  const cluster = planIpvs(
    state([{ svc: { type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }] }, eps }]),
    cfg,
  );
  t.same([...cluster.virtualServers.keys()].sort(), [
    'TCP/10.244.1.1:30080',
    'TCP/10.96.0.10:80',
    'TCP/192.0.2.1:30080',
  ]);
  t.same(rs(cluster, 'TCP/192.0.2.1:30080'), ['10.244.1.11:8080/1', '10.244.2.11:8080/1']);
  t.same(cluster.boundAddresses, ['10.96.0.10'], 'node addresses are not bound to kube-ipvs0');
  t.same(entries(cluster, 'KUBE-NODE-PORT-TCP'), ['30080']);
  t.same(entries(cluster, 'KUBE-NODE-PORT-LOCAL-TCP'), []);

  const local = planIpvs(
    state([
      {
        svc: { type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30080 }] },
        eps,
      },
    ]),
    cfg,
  );
  t.same(rs(local, 'TCP/192.0.2.1:30080'), ['10.244.1.11:8080/1'], 'only the local endpoint behind the NodePort');
  t.same(rs(local, 'TCP/10.96.0.10:80'), ['10.244.1.11:8080/1', '10.244.2.11:8080/1'], 'the ClusterIP still uses all');
  t.same(entries(local, 'KUBE-NODE-PORT-LOCAL-TCP'), ['30080']);
});

t.test('UDP and SCTP NodePorts go to their own sets', async (t) => {
  const plan = planIpvs(
    state([
      {
        svc: {
          type: 'NodePort',
          ports: [
            { name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 },
            { name: 's', port: 99, protocol: 'SCTP', nodePort: 30099 },
          ],
        },
      },
    ]),
    cfg,
  );
  t.same(entries(plan, 'KUBE-NODE-PORT-UDP'), ['30053']);
  t.same(entries(plan, 'KUBE-NODE-PORT-SCTP'), ['30099']);
  t.ok(plan.virtualServers.has('UDP/10.96.0.10:53'));
  t.ok(plan.virtualServers.has('SCTP/192.0.2.1:30099'));
  t.same(entries(plan, 'KUBE-CLUSTER-IP'), ['10.96.0.10,sctp:99', '10.96.0.10,udp:53']);
});

t.test('sessionAffinity ClientIP becomes persistence with the Service timeout', async (t) => {
  const plan = planIpvs(
    state([
      {
        svc: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } },
        eps: [{ ip: '10.244.1.11' }],
      },
    ]),
    cfg,
  );
  t.equal(plan.virtualServers.get('TCP/10.96.0.10:80')!.persistenceSeconds, 600);
  const dflt = planIpvs(state([{ svc: { sessionAffinity: 'ClientIP' } }]), cfg);
  t.equal(dflt.virtualServers.get('TCP/10.96.0.10:80')!.persistenceSeconds, 10800, "kube-proxy's default of 3 hours");
});

t.test('the scheduler comes from --ipvs-scheduler', async (t) => {
  const plan = planIpvs(state([{ svc: {}, eps: [{ ip: '10.244.1.11' }] }]), {
    ...cfg,
    scheduler: parseScheduler('sh'),
  });
  t.equal(plan.virtualServers.get('TCP/10.96.0.10:80')!.scheduler, 'sh');
  t.equal(parseScheduler(''), 'rr', 'rr by default');
  for (const s of ['wrr', 'lc', 'wlc', 'mh', 'sed', 'nq']) t.equal(parseScheduler(s), s);
  t.throws(
    () => parseScheduler('fastest'),
    /--ipvs-scheduler: "fastest" is not an IPVS scheduler \(one of rr, wrr, lc/,
  );
});

t.test('externalIPs and load balancer IPs: bound, with their virtual servers and sets', async (t) => {
  const plan = planIpvs(
    state([
      {
        svc: {
          type: 'LoadBalancer',
          externalIPs: ['198.51.100.7'],
          loadBalancerSourceRanges: ['203.0.113.0/24'],
          ports: [{ name: 'http', port: 80, nodePort: 30080 }],
        },
        status: { loadBalancer: { ingress: [{ ip: '198.51.100.9' }] } },
        eps: [{ ip: '10.244.1.11' }],
      },
    ]),
    cfg,
  );
  t.same(plan.boundAddresses, ['10.96.0.10', '198.51.100.7', '198.51.100.9']);
  t.ok(plan.virtualServers.has('TCP/198.51.100.7:80'));
  t.ok(plan.virtualServers.has('TCP/198.51.100.9:80'));
  t.same(entries(plan, 'KUBE-EXTERNAL-IP'), ['198.51.100.7,tcp:80']);
  t.same(entries(plan, 'KUBE-LOAD-BALANCER'), ['198.51.100.9,tcp:80']);
  t.same(entries(plan, 'KUBE-LOAD-BALANCER-FW'), ['198.51.100.9,tcp:80']);
  t.same(entries(plan, 'KUBE-LOAD-BALANCER-SOURCE-CIDR'), ['198.51.100.9,tcp:80,203.0.113.0/24']);
  t.same(entries(plan, 'KUBE-IPVS-IPS'), ['10.96.0.10', '198.51.100.7', '198.51.100.9']);
});

t.test(
  'no ready endpoint: the virtual server stays, empty, so IPVS refuses; terminating ones are the fallback',
  async (t) => {
    const none = planIpvs(state([{ svc: {} }]), cfg);
    t.same(rs(none, 'TCP/10.96.0.10:80'), []);
    const fallback = planIpvs(
      state([
        {
          svc: {},
          eps: [
            { ip: '10.244.1.11', ready: false, serving: true, terminating: true },
            { ip: '10.244.1.12', ready: false, serving: false, terminating: true },
          ],
        },
      ]),
      cfg,
    );
    t.same(rs(fallback, 'TCP/10.96.0.10:80'), ['10.244.1.11:8080/1']);
  },
);

t.test('two Services claiming one address and port: the first (by name) wins, the conflict is reported', async (t) => {
  const plan = planIpvs(
    state([
      { svc: {}, eps: [{ ip: '10.244.1.11' }], name: 'b' },
      { svc: {}, eps: [{ ip: '10.244.1.12' }], name: 'a' },
    ]),
    cfg,
  );
  t.same(rs(plan, 'TCP/10.96.0.10:80'), ['10.244.1.12:8080/1']);
  t.same(plan.conflicts, [{ virtualServer: 'TCP/10.96.0.10:80', kept: 'default/a:http', dropped: 'default/b:http' }]);
});

t.test('the plan does not depend on the order Services arrived in', async (t) => {
  const objs = Array.from({ length: 20 }, (_, i) => ({
    svc: { clusterIP: `10.96.1.${i}` },
    eps: [{ ip: `10.244.1.${i}` }],
    name: `s${i}`,
  }));
  const a = planIpvs(state(objs), cfg);
  const b = planIpvs(state([...objs].reverse()), cfg);
  t.same([...a.virtualServers.keys()], [...b.virtualServers.keys()]);
  t.same(a.boundAddresses, b.boundAddresses);
});
