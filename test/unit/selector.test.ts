import t from 'tap';
import { fromLabelSelector, matches, parseSelector, SelectorError } from '../../lib/selector.js';

t.test('string selectors', async (t) => {
  const s = parseSelector('app=web,tier!=db,env in (prod, staging),!canary,team');
  t.equal(s.length, 5);
  t.ok(matches(s, { app: 'web', env: 'prod', team: 'x' }));
  t.notOk(matches(s, { app: 'web', env: 'prod', team: 'x', canary: 'true' }), '!canary excludes');
  t.notOk(matches(s, { app: 'web', env: 'dev', team: 'x' }), 'env notin set');
  t.notOk(matches(s, { app: 'web', env: 'prod', team: 'x', tier: 'db' }), 'tier!=db');
  t.notOk(matches(s, { app: 'web', env: 'prod' }), 'team must exist');
  t.same(parseSelector(''), [], 'empty selector matches everything');
  t.ok(matches(parseSelector(''), {}));
  t.throws(() => parseSelector('a=b,,c'), SelectorError);
  t.throws(() => parseSelector('-bad-=x'), SelectorError);
});

t.test('structured LabelSelector', async (t) => {
  const s = fromLabelSelector({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['dev'] }] });
  t.ok(matches(s, { app: 'web' }));
  t.notOk(matches(s, { app: 'web', env: 'dev' }));
  t.throws(() => fromLabelSelector({ matchExpressions: [{ key: 'a', operator: 'In' }] }), SelectorError);
  t.throws(() => fromLabelSelector({ matchExpressions: [{ key: 'a', operator: 'Near', values: ['x'] }] }), SelectorError);
});
