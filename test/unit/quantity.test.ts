import t from 'tap';
import { parseQuantity, quantityMilliValue, quantityValue, formatBytes, QuantityError } from '../../lib/quantity.js';
import { errorMessage } from '../../lib/errors.js';

t.test('CPU quantities become millicores, rounded up as Quantity.MilliValue does', async (t) => {
  t.equal(quantityMilliValue('100m'), 100);
  t.equal(quantityMilliValue('1'), 1000);
  t.equal(quantityMilliValue('1.5'), 1500);
  t.equal(quantityMilliValue('0.0001'), 1);
  t.equal(quantityMilliValue('2e-3'), 2);
  t.equal(quantityMilliValue(2), 2000);
});

t.test('memory quantities become bytes with binary and decimal suffixes', async (t) => {
  t.equal(quantityValue('64Mi'), 64 * 1024 * 1024);
  t.equal(quantityValue('1Gi'), 2 ** 30);
  t.equal(quantityValue('128M'), 128_000_000);
  t.equal(quantityValue('1k'), 1000);
  t.equal(quantityValue('1.5Ki'), 1536);
  t.equal(quantityValue('1e3'), 1000);
  t.equal(quantityValue('100m'), 1, 'a fraction of a byte rounds up');
});

t.test('invalid quantities are rejected with the reason', async (t) => {
  for (const bad of ['1x', '', 'Mi', '1..2', '1 Gi', 'abc', '--1']) {
    t.throws(() => parseQuantity(bad), QuantityError, `rejects ${JSON.stringify(bad)}`);
  }
  t.match(() => parseQuantity('1x'), Function);
  try {
    parseQuantity('1x');
    t.fail('should throw');
  } catch (e) {
    t.match(errorMessage(e), /unknown suffix "x"/);
  }
});

t.test('formatBytes picks the largest exact binary suffix', async (t) => {
  t.equal(formatBytes(64 * 1024 * 1024), '64Mi');
  t.equal(formatBytes(1536), '1536');
  t.equal(formatBytes(2048), '2Ki');
});
