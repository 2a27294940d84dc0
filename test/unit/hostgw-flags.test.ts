// kubenode-hostgw's flags: bad input names the flag and the reason.
import t from 'tap';
import { parseFlags } from '../../hostgw/main.js';

t.test('flags', async (t) => {
  t.same(
    parseFlags([
      '--kubeconfig',
      '/k',
      '--hostname-override=n1',
      '--cluster-cidr',
      '10.244.0.0/16',
      '--resync-period',
      '500ms',
    ]),
    { kubeconfig: '/k', nodeName: 'n1', clusterCIDR: '10.244.0.0/16', resyncMs: 500, cleanup: false },
  );
  t.same(
    parseFlags(['--cleanup', '--cluster-cidr=10.1.0.0/16']),
    { clusterCIDR: '10.1.0.0/16', resyncMs: 10_000, cleanup: true },
    '--cleanup needs no kubeconfig',
  );
  t.throws(() => parseFlags([]), /--kubeconfig is required/);
  t.throws(
    () => parseFlags(['--kubeconfig', '/k', '--cluster-cidr', '10.244.0.0']),
    /--cluster-cidr: "10\.244\.0\.0" is not an IPv4 CIDR/,
  );
  t.throws(
    () => parseFlags(['--kubeconfig', '/k', '--resync-period', 'soon']),
    /--resync-period: "soon" is not a duration/,
  );
  t.throws(() => parseFlags(['--kubeconfig']), /--kubeconfig needs a value/);
  t.throws(() => parseFlags(['--kubeconfig', '/k', '--frobnicate']), /unknown flag --frobnicate/);
});
