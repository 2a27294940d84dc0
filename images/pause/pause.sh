#!/bin/sh
# The sandbox ("pause") container's PID 1. It holds the pod's network and IPC namespaces open
# and does nothing else, except what every PID 1 must do:
#  - reap zombies: processes orphaned inside the pod are re-parented to us; `wait` collects them;
#  - exit promptly on SIGTERM/SIGINT: a trapped signal interrupts `wait` at once (POSIX), so the
#    pod's sandbox stops in milliseconds instead of waiting for the SIGKILL after the grace period.
trap 'exit 0' TERM INT
while :; do
  sleep 2147483647 &
  wait $!
done
