import t from 'tap';
import { errorMessage } from '../../lib/errors.js';

t.test('an Error gives its message, whatever its class', async (t) => {
  t.equal(errorMessage(new Error('no such container')), 'no such container');
  t.equal(errorMessage(new TypeError('bad port')), 'bad port');
  const errno = Object.assign(new Error('ENOENT: no such file or directory'), { code: 'ENOENT' });
  t.equal(errorMessage(errno), 'ENOENT: no such file or directory');
  t.equal(errorMessage(new Error('')), '', 'an empty message stays empty');
});

t.test('a plain object with a string message gives that message', async (t) => {
  t.equal(errorMessage({ message: 'conflict', statusCode: 409 }), 'conflict');
});

t.test('anything else is turned into text rather than read as undefined', async (t) => {
  t.equal(errorMessage('timed out'), 'timed out');
  t.equal(errorMessage(undefined), 'undefined');
  t.equal(errorMessage(null), 'null');
  t.equal(errorMessage(42), '42');
  t.equal(errorMessage({ message: 7 }), '[object Object]', 'a message that is not a string is not trusted');
  t.equal(errorMessage(Object.create(null)), '[object Object]', 'an object without toString does not throw');
});
