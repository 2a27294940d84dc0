#!/usr/bin/env node
// kubenode-proxy: kube-proxy's iptables mode in TypeScript. The program lives in dist/proxy/main.js.
import { main } from '../dist/proxy/main.js';

process.exitCode = await main(process.argv.slice(2));
