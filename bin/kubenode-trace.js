#!/usr/bin/env node
// kubenode-trace: follow one real packet through a node's rules. The program lives in dist/trace/main.js.
import { main } from '../dist/trace/main.js';

process.exitCode = await main(process.argv.slice(2));
