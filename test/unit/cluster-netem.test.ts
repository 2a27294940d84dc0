// The NFQUEUE delay program's message parsing (used by cluster.sh netem where the kernel has no
// netem qdisc): packet ids out of nfnetlink_queue messages, errors surfaced.
import t from 'tap';
import { packetIds, parseDelay } from '../../test/harness/netem-delay.js';

/** One NFQNL_MSG_PACKET carrying NFQA_PACKET_HDR {id, hw_protocol, hook}, as the kernel sends it. */
function packetMsg(id: number): Buffer {
  const hdr = Buffer.alloc(16);
  const nfgen = Buffer.from([2, 0, 0, 0]);
  const attr = Buffer.alloc(12);
  attr.writeUInt16LE(11, 0); // nla_len: 4 + 7 bytes of struct nfqnl_msg_packet_hdr
  attr.writeUInt16LE(1, 2); // NFQA_PACKET_HDR
  attr.writeUInt32BE(id, 4);
  attr.writeUInt16BE(0x0800, 8);
  attr.writeUInt8(0, 10);
  const other = Buffer.alloc(8);
  other.writeUInt16LE(8, 0);
  other.writeUInt16LE(0x8000 | 10, 2); // a nested attribute we skip (NFQA_PAYLOAD-like)
  const len = 16 + 4 + attr.length + other.length;
  hdr.writeUInt32LE(len, 0);
  hdr.writeUInt16LE((3 << 8) | 0, 4);
  return Buffer.concat([hdr, nfgen, other, attr]);
}

function errorMsg(errno: number): Buffer {
  const b = Buffer.alloc(36);
  b.writeUInt32LE(36, 0);
  b.writeUInt16LE(2, 4); // NLMSG_ERROR
  b.writeInt32LE(-errno, 16);
  return b;
}

t.test('packet ids, several messages per datagram', async (t) => {
  t.same(packetIds(Buffer.concat([packetMsg(7), packetMsg(8)])), [7, 8]);
  t.same(packetIds(Buffer.alloc(0)), []);
  t.same(packetIds(errorMsg(0)), [], 'an ACK is not an error');
  t.throws(() => packetIds(errorMsg(1)), /nfnetlink_queue refused a request: errno 1/);
});

t.test('delays', async (t) => {
  t.equal(parseDelay('50ms'), 50);
  t.equal(parseDelay('1.5s'), 1500);
  t.equal(parseDelay('250us'), 0.25);
  t.throws(() => parseDelay('fast'), /--delay: "fast" is not a duration like 50ms/);
});
