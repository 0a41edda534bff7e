#!/usr/bin/env bash
# `make start` (after setup): start the bpfilter daemon, then drive it with the stock
# iptables-legacy binaries through the LD_PRELOAD shim in a demo network namespace.
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_DIR=/run/bpfilter
SOCK=${BPFILTER_SOCKET:-$RUN_DIR/bpfilter.sock}
PIDFILE=$RUN_DIR/bpfilter.pid
LOG=$RUN_DIR/bpfilter.log
NS=bpfilter-demo
mkdir -p "$RUN_DIR"

if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "start: bpfilter daemon already running (pid $(cat "$PIDFILE"))"
else
  nohup node dist/src/cli.js daemon --socket "$SOCK" >>"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
  [ -S "$SOCK" ] || { echo "start: the daemon did not come up; see $LOG" >&2; exit 1; }
  echo "start: bpfilter daemon pid $(cat "$PIDFILE"), socket $SOCK, log $LOG"
fi

ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
bpfilter() { ip netns exec "$NS" node dist/src/cli.js run --socket "$SOCK" -- "$@"; }

echo
echo "\$ bpfilter run -- iptables-legacy-restore < examples/host-firewall.rules   (in netns $NS)"
bpfilter iptables-legacy-restore <examples/host-firewall.rules
echo "\$ bpfilter run -- iptables-legacy -A services -p tcp --dport 8080 -j ACCEPT"
bpfilter iptables-legacy -A services -p tcp --dport 8080 -j ACCEPT
echo "\$ bpfilter run -- iptables-legacy -L -v -n"
bpfilter iptables-legacy -L -v -n
echo
echo "Last commands the helper served (one JSON line per sockopt):"
grep -v GET_REVISION "$LOG" | tail -n 4
echo
echo "The daemon runs with the store-only backend: rules are validated, kept and listed"
echo "exactly as the kernel would, but no BPF filters packets yet (the translator is issue 4)."
echo "The rules above live in the bpfilter helper, not in the kernel's ip_tables:"
echo "  ip netns exec $NS iptables-legacy -S     # the kernel's own, untouched table"
echo "Stop the daemon with: kill \$(cat $PIDFILE)"
