#!/bin/sh
# The demo app: answers HTTP on port 8080 (or $PORT) with the name and IP of the pod that
# answered, so a person curling a Service sees which backend took the request.
#   /          "pod=<name> ip=<ip> node=<node>"
#   /healthz   always "ok" (liveness)
#   /ready     "ready" while the file exists: `rm /www/ready` makes the pod fail a readiness
#              probe that checks it, `touch /www/ready` heals it.
port=${PORT:-8080}
name=${POD_NAME:-$(hostname)}
ip=${POD_IP:-$(hostname -i 2>/dev/null)}
node=${NODE_NAME:-unknown}
mkdir -p /www
echo "pod=$name ip=$ip node=$node" > /www/index.html
echo ok > /www/healthz
echo ready > /www/ready
trap 'exit 0' TERM INT
httpd -f -p "$port" -h /www &
wait $!
