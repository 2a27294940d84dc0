// The soak bench's leak count (bench/lib/soak-census.ts), its pure parts: which Service chains of
// an iptables-save belong to the run's namespace, and what a second count holds beyond the first.
import t from 'tap';
import { censusDiff, censusTotal, serviceChains, type Census } from '../../bench/lib/soak-census.js';

const SAVE = `*nat
:KUBE-SERVICES - [0:0]
:KUBE-SVC-NPX46M4PTMTKRN6Y - [0:0]
:KUBE-SEP-KUBERNETES00000 - [0:0]
:KUBE-SVC-RUNSVC000000000 - [0:0]
:KUBE-SEP-RUNSEP000000000 - [0:0]
:KUBE-EXT-RUNSVC000000000 - [0:0]
:KUBE-SEP-NORULES00000000 - [0:0]
:KUBE-SVC-OTHERNS00000000 - [0:0]
-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -j KUBE-SVC-NPX46M4PTMTKRN6Y
-A KUBE-SVC-NPX46M4PTMTKRN6Y -m comment --comment "default/kubernetes:https -> 192.168.100.1:6443" -j KUBE-SEP-KUBERNETES00000
-A KUBE-SEP-KUBERNETES00000 -s 192.168.100.1/32 -m comment --comment default/kubernetes:https -j KUBE-MARK-MASQ
-A KUBE-SVC-RUNSVC000000000 -m comment --comment "kt1a2b/kt1a2b-s1:http -> 10.244.0.5:8080" -j KUBE-SEP-RUNSEP000000000
-A KUBE-SEP-RUNSEP000000000 -s 10.244.0.5/32 -m comment --comment kt1a2b/kt1a2b-s1:http -j KUBE-MARK-MASQ
-A KUBE-EXT-RUNSVC000000000 -m comment --comment "masquerade traffic for kt1a2b/kt1a2b-s1:http external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-RUNSVC000000000 -m comment --comment "kt1a2b/kt1a2b-s1:http" -j KUBE-SVC-RUNSVC000000000
-A KUBE-SVC-OTHERNS00000000 -m comment --comment "kt9999/web:http -> 10.244.0.9:8080" -j KUBE-MARK-MASQ
COMMIT
`;

t.test("only the run namespace's chains count, and rule-less ones whatever their owner", async (t) => {
  t.same(serviceChains(SAVE, 'kt1a2b'), [
    'KUBE-SVC-RUNSVC000000000',
    'KUBE-SEP-RUNSEP000000000',
    'KUBE-EXT-RUNSVC000000000',
    'KUBE-SEP-NORULES00000000',
  ]);
  t.same(serviceChains(SAVE, 'default'), [
    'KUBE-SVC-NPX46M4PTMTKRN6Y',
    'KUBE-SEP-KUBERNETES00000',
    'KUBE-SEP-NORULES00000000',
  ]);
  t.same(
    serviceChains('*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n', 'kt1a2b'),
    [],
    'KUBE-SERVICES is not a per-Service chain',
  );
});

t.test('a leak is what the second count holds beyond the first, kind by kind', async (t) => {
  const empty: Census = {
    containers: [],
    veths: [],
    addresses: [],
    podCgroups: [],
    podDirs: [],
    mounts: [],
    chains: [],
  };
  const before: Census = { ...empty, veths: ['vethaaaa'], chains: ['KUBE-SVC-X'] };
  const after: Census = {
    ...empty,
    veths: ['vethaaaa', 'vethbbbb'],
    addresses: ['kubenode/10.244.0.7 (c0ffee)'],
    chains: ['KUBE-SVC-X'],
  };
  const leaks = censusDiff(before, after);
  t.same(leaks.veths, ['vethbbbb']);
  t.same(leaks.addresses, ['kubenode/10.244.0.7 (c0ffee)']);
  t.same(leaks.chains, []);
  t.equal(censusTotal(leaks), 2);
  t.equal(censusTotal(censusDiff(after, before)), 0, 'what went away is no leak');
});
