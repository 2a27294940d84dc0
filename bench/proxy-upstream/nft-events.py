#!/usr/bin/env python3
# Watches nftables' netlink notifications in the current network namespace and prints each IPv4
# address given as an argument (bench/proxy-upstream.ts: the last Service's ClusterIP, the
# addresses it gives changed endpoints) the first time a committed change carries it, as
# "seen A.B.C.D", "ready" once listening, and "overrun" when notifications were dropped.
# Why not `nft monitor`: nft 1.0 reads the whole ruleset into its cache before listening (over
# 30 s at 10,000 Services on a loaded machine) and `nft list` polling costs seconds per poll
# there; the kernel's notifications need no reading at all, and arrive when the transaction
# commits, i.e. when the rule is in the kernel. Standard library only.
import errno
import socket
import sys

NETLINK_NETFILTER = 12
NFNLGRP_NFTABLES = 7
SO_RCVBUFFORCE = 33
NEEDLES = {bytes(int(b) for b in a.split('.')): a for a in sys.argv[1:]}

s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
s.bind((0, 1 << (NFNLGRP_NFTABLES - 1)))
print('ready', flush=True)
seen = set()
while True:
    try:
        data = s.recv(1 << 20)
    except OSError as e:
        if e.errno != errno.ENOBUFS:
            raise
        # Notifications were dropped: say so, the bench then falls back to listing the ruleset.
        print('overrun', flush=True)
        continue
    for needle, addr in NEEDLES.items():
        if addr not in seen and needle in data:
            seen.add(addr)
            print('seen ' + addr, flush=True)
