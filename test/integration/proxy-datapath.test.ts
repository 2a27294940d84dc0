// kubenode-proxy's iptables mode moving real packets: the shared datapath scenario
// (test/fixtures/proxy/datapath-scenario.ts), in network namespaces.
import { datapathScenario } from '../fixtures/proxy/datapath-scenario.js';

await datapathScenario('iptables');
