// The import graph of the programs, read from the sources with the TypeScript parser (imports and
// export-from declarations, type-only ones included, and dynamic import()).
//
// Three rules hold:
//  (a) no import cycle anywhere: a cycle, even a type-only one, ties files that should be readable
//      one at a time;
//  (b) in agent/, imports run down the layer table below, never up;
//  (c) only agent/runtime/ imports dockerode: the rest of the agent sees Docker through the
//      ContainerRuntime interface (agent/runtime/types.ts), as kubelet sees its runtime through CRI.
//
// The layer table, from the top (0) down. A file may import from its own layer or any layer below
// it; an import from a lower layer to a higher one fails. Every folder and top-level file of agent/
// must be in the table: a new folder fails this test until someone decides where it lives.
//   0 wiring        agent.ts, pod-context.ts, main.ts, join.ts: build the agent from its parts.
//   1 edge          the pod sources (file, URL, etcd, manifest server), the apiserver adapters
//                   (pod source, status writer, mirror pods), the node's HTTP servers, the node
//                   object and its lease, certificates, eviction, the flags: each talks to the
//                   world outside the node and drives or observes the pod workers.
//   2 pods          pod workers and pod sync (kubelet's pod_workers.go and SyncPod).
//   3 services      what sync uses: the runtime (Docker), the prober, status, volumes, pod network
//                   (CNI), allocation, stats; contracts.ts names the network and prober
//                   interfaces the pod workers use.
//   4 kube          the apiserver client, its list-watch and its retry back-off (kube/), events,
//                   API objects (Secrets, ConfigMaps, Services) read on behalf of pods.
//   5 podspec       pure pod-spec logic (defaults, validation, probe specs, QoS, resources,
//                   hashes, env, the CrashLoopBackOff delay) and the metrics registry (metrics.ts):
//                   used by every layer, they import nothing of the agent above them.
// Below all of agent/ sits lib/ (shared by all programs), which imports nothing of the programs.
import t from 'tap';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const programs = ['agent', 'proxy', 'cni', 'lib', 'trace', 'approver', 'hostgw'].filter((d) =>
  existsSync(join(root, d)),
);

const agentLayers: Array<[string, string[]]> = [
  ['wiring', ['agent.ts', 'pod-context.ts', 'main.ts', 'join.ts']],
  ['edge', ['sources', 'apiserver', 'server', 'node', 'certificate', 'eviction', 'config']],
  ['pods', ['pods']],
  ['services', ['runtime', 'prober', 'status', 'volumes', 'network', 'allocation', 'stats', 'contracts.ts']],
  ['kube', ['kube', 'events', 'objects']],
  ['podspec', ['podspec', 'metrics.ts']],
];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Every module specifier a file names: import/export-from declarations, `import x = require()`, import(). */
function specifiers(file: string): string[] {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      out.push(node.moduleSpecifier.text);
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      out.push(node.moduleReference.expression.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      out.push(node.arguments[0].text);
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      out.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(src);
  return out;
}

/** A relative specifier ('./x.js') to the repository path of the .ts file it names. */
function resolveRelative(from: string, spec: string): string | undefined {
  const base = resolve(dirname(from), spec);
  for (const candidate of [base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return relative(root, candidate).split(sep).join('/');
  }
  return undefined;
}

const graph = new Map<string, string[]>();
const packages = new Map<string, string[]>();
const unresolved: string[] = [];
for (const program of programs) {
  for (const abs of sourceFiles(join(root, program))) {
    const file = relative(root, abs).split(sep).join('/');
    const edges: string[] = [];
    const pkgs: string[] = [];
    for (const spec of specifiers(abs)) {
      if (!spec.startsWith('.')) {
        pkgs.push(spec);
        continue;
      }
      const target = resolveRelative(abs, spec);
      if (target) edges.push(target);
      else unresolved.push(`${file} -> ${spec}`);
    }
    graph.set(file, edges);
    packages.set(file, pkgs);
  }
}

/** The cycles of the graph, one per strongly connected component, each as a path a -> ... -> a. */
function cycles(g: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of g.get(node) ?? []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...g.keys()].sort()) if (!state.has(node)) visit(node);
  return found;
}

/** The layer index of an agent/ file, or undefined when its folder is not in the table. */
function agentLayer(file: string): number | undefined {
  const top = file.split('/')[1];
  const index = agentLayers.findIndex(([, entries]) => entries.includes(top));
  return index < 0 ? undefined : index;
}

t.test('the parser sees the graph', async (t) => {
  t.ok(graph.size > 300, `read ${graph.size} files`);
  t.ok((graph.get('agent/agent.ts') ?? []).length > 10, 'agent/agent.ts imports its parts');
  t.same(unresolved, [], 'every relative import names a file that exists');
});

t.test('no import cycle', async (t) => {
  const found = cycles(graph);
  t.same(
    found.map((c) => c.join(' -> ')),
    [],
    found.length ? `cycles:\n${found.map((c) => c.join(' -> ')).join('\n')}` : 'no cycles',
  );
});

t.test('every agent/ folder has a layer', async (t) => {
  const unplaced = [
    ...new Set(
      [...graph.keys()]
        .filter((f) => f.startsWith('agent/') && agentLayer(f) === undefined)
        .map((f) => f.split('/')[1]),
    ),
  ];
  t.same(unplaced, [], 'place these in the layer table at the top of this file');
});

t.test('in agent/, imports run down the layers', async (t) => {
  const upward: string[] = [];
  for (const [file, edges] of graph) {
    if (!file.startsWith('agent/')) continue;
    const from = agentLayer(file);
    for (const target of edges) {
      if (target.startsWith('lib/') && !file.startsWith('lib/')) continue;
      if (!target.startsWith('agent/')) {
        upward.push(`${file} -> ${target} (outside agent/ and lib/)`);
        continue;
      }
      const to = agentLayer(target);
      if (from !== undefined && to !== undefined && to < from) {
        upward.push(`${file} (${agentLayers[from][0]}) -> ${target} (${agentLayers[to][0]})`);
      }
    }
  }
  t.same(upward, [], 'imports from a lower layer to a higher one');
});

t.test('lib/ imports nothing of the programs', async (t) => {
  const out = [...graph]
    .filter(([f]) => f.startsWith('lib/'))
    .flatMap(([f, edges]) => edges.filter((e) => !e.startsWith('lib/')).map((e) => `${f} -> ${e}`));
  t.same(out, []);
});

t.test('only agent/runtime/ imports dockerode', async (t) => {
  const importers = [...packages]
    .filter(([, pkgs]) => pkgs.some((p) => p === 'dockerode' || p.startsWith('dockerode/')))
    .map(([f]) => f);
  t.ok(
    importers.some((f) => f.startsWith('agent/runtime/')),
    'the runtime itself imports dockerode (the check sees it)',
  );
  t.same(
    importers.filter((f) => !f.startsWith('agent/runtime/')),
    [],
    'files outside agent/runtime/ that import dockerode',
  );
});

/** Whether `file` imports `pkg` statically for a value (not `import type`, not a dynamic import()). */
function staticValueImport(file: string, pkg: string): boolean {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  return src.statements.some((s) => {
    if (!ts.isImportDeclaration(s) || !ts.isStringLiteral(s.moduleSpecifier) || s.moduleSpecifier.text !== pkg)
      return false;
    const clause = s.importClause;
    if (!clause) return true; // a side-effect import loads the module
    if (clause.isTypeOnly) return false;
    if (clause.name) return true;
    const named = clause.namedBindings;
    if (!named || ts.isNamespaceImport(named)) return true;
    return named.elements.some((e) => !e.isTypeOnly);
  });
}

// The proxy loads the Kubernetes client only in apiserver mode (proxy/sources/apiserver.ts
// imports it dynamically): it takes 0.3 s to load here and seconds under emulation, where the
// --services-dir mode of the IPVS tests runs (a static import once made their proxy miss its
// 20 s start-up window).
t.test('no proxy file loads @kubernetes/client-node at start-up', async (t) => {
  const files = [...packages.keys()].filter((f) => f.startsWith('proxy/'));
  t.ok(files.includes('proxy/sources/apiserver.ts'), 'the check sees the proxy');
  t.same(
    files.filter((f) => staticValueImport(join(root, f), '@kubernetes/client-node')),
    [],
    'proxy files with a static value import of @kubernetes/client-node',
  );
});
