// Run as its own process inside a node's network namespace (nft-events.ts starts it with
// `ip netns exec NS node nft-events-listen.js ADDR...`): listens on nftables' netlink
// notifications and prints each IPv4 address given as an argument the first time a committed
// change carries it, as "seen A.B.C.D"; "ready" once listening; "overrun" when notifications
// were dropped (the bench then falls back to listing the ruleset).
// Why not `nft monitor`: nft 1.0 reads the whole ruleset into its cache before it listens (over
// 30 s at 10,000 Services on a loaded machine), and `nft list` polling costs seconds per poll
// there; the kernel's notifications need no reading at all and arrive when the transaction
// commits, i.e. when the rule is in the kernel. The search is for the address's 4 bytes anywhere
// in a message: enough for the bench's unique addresses, no parsing of nftables attributes.
import { writeSync } from 'node:fs';
import { RawNetlinkSocket } from 'netlink';

const NETLINK_NETFILTER = 12;
const NFNLGRP_NFTABLES = 7;

const needles = new Map(process.argv.slice(2).map((a) => [a, Buffer.from(a.split('.').map(Number))] as const));
const socket = new RawNetlinkSocket(NETLINK_NETFILTER, { recvBufferSize: 64 << 20, sendBufferSize: 1 << 16 });
socket.addMembership(NFNLGRP_NFTABLES);
socket.on('message', (msg) => {
  for (const [addr, bytes] of needles) {
    if (msg.includes(bytes)) {
      needles.delete(addr);
      process.stdout.write(`seen ${addr}\n`);
    }
  }
});
// ENOBUFS (notifications dropped) or any other receive error: the bench stops trusting this
// listener and polls, so the listener ends here, at once. It must: netlink's native binding
// aborts the process when a socket that reported a receive error stays open ("terminate called
// after throwing an instance of 'Napi::Error'", seen in 10,000-Service runs and reproduced with
// a 4 KiB receive buffer and a 100,000-chain transaction, also when the exit was deferred).
socket.on('error', (err) => {
  if (err.code !== 'ENOBUFS') process.stderr.write(`nft-events-listen: ${String(err.message ?? err)}\n`);
  // Synchronously, before the callback returns to the binding.
  writeSync(1, 'overrun\n');
  process.exit(0);
});
process.on('SIGTERM', () => {
  socket.close();
  process.exit(0);
});
process.stdout.write('ready\n');
