// The size limits the project holds itself to (docs/ARCHITECTURE.md): no source file under
// agent/, proxy/, cni/ or hostgw/ over 350 lines, and no function over 80 lines anywhere
// outside tests and benchmarks. Long files and long functions are where a reader gets lost;
// this test names the offender and its length so the fix starts from the right place.
import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '../../..');
const MAX_FILE_LINES = 350;
const MAX_FUNCTION_LINES = 80;
const FILE_LIMITED = ['agent', 'proxy', 'cni', 'hostgw'];
const FUNCTION_LIMITED = ['agent', 'proxy', 'cni', 'hostgw', 'lib', 'trace', 'approver'];

/** Every .ts source under dir (not declarations, not tests), relative to ROOT. */
function sources(dir: string): string[] {
  const abs = join(ROOT, dir);
  let names: string[];
  try {
    names = readdirSync(abs);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names) {
    const path = join(abs, name);
    if (statSync(path).isDirectory()) out.push(...sources(relative(ROOT, path)));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts') && !name.endsWith('.test.ts'))
      out.push(relative(ROOT, path));
  }
  return out;
}

/** Lines of a text as an editor counts them (a final newline does not start a line). */
export function lineCount(text: string): number {
  return text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
}

export interface LongFunction {
  name: string;
  line: number;
  lines: number;
}

/** Functions (declarations, methods, arrows, accessors) with a body longer than limit lines. */
export function longFunctions(fileName: string, text: string, limit: number): LongFunction[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const found: LongFunction[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = last - first + 1;
      const name = 'name' in node && node.name ? node.name.getText(source) : '(anonymous)';
      if (lines > limit) found.push({ name, line: first + 1, lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

t.test('longFunctions measures every kind of function, nested ones too', async (t) => {
  const body = (n: number): string => Array.from({ length: n }, (_, i) => `  const v${i} = ${i};`).join('\n');
  const text = [
    `function short() {\n${body(3)}\n}`,
    `function long() {\n${body(10)}\n  const inner = () => {\n${body(6)}\n  };\n}`,
    `class C {\n  method() {\n${body(9)}\n  }\n}`,
  ].join('\n');
  const found = longFunctions('x.ts', text, 8);
  t.same(
    found.map((f) => [f.name, f.lines]),
    [
      ['long', 20],
      ['method', 11],
    ],
  );
  t.equal(lineCount('a\nb\n'), 2);
  t.equal(lineCount('a\nb'), 2);
});

t.test(`no source file under ${FILE_LIMITED.join(', ')} is over ${MAX_FILE_LINES} lines`, async (t) => {
  const files = FILE_LIMITED.flatMap(sources);
  t.ok(files.length > 100, `found the sources (${files.length} files)`);
  const over = files
    .map((file) => ({ file, lines: lineCount(readFileSync(join(ROOT, file), 'utf8')) }))
    .filter((f) => f.lines > MAX_FILE_LINES)
    .map((f) => `${f.file}: ${f.lines} lines`);
  t.same(over, [], 'files over the limit');
});

t.test(`no function outside tests and benchmarks is over ${MAX_FUNCTION_LINES} lines`, async (t) => {
  const over: string[] = [];
  for (const file of FUNCTION_LIMITED.flatMap(sources)) {
    for (const f of longFunctions(file, readFileSync(join(ROOT, file), 'utf8'), MAX_FUNCTION_LINES)) {
      over.push(`${file}:${f.line} ${f.name}: ${f.lines} lines`);
    }
  }
  t.same(over, [], 'functions over the limit');
});
