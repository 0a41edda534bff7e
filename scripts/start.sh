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
PEER=bpfilter-peer
mkdir -p "$RUN_DIR"

# A daemon from an earlier `make start` may run older code: replace it (the new one adopts the
# pinned programs and saved tables, so filtering goes on meanwhile).
if [ -f "$PIDFILE" ] && grep -q "cli.js" "/proc/$(cat "$PIDFILE")/cmdline" 2>/dev/null; then
  old=$(cat "$PIDFILE")
  kill "$old"
  for _ in $(seq 50); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
  echo "start: stopped the earlier daemon (pid $old)"
fi
rm -f "$SOCK" # a socket left by a daemon that died would look like a live one
nohup node dist/src/cli.js daemon --socket "$SOCK" >>"$LOG" 2>&1 &
echo $! >"$PIDFILE"
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { echo "start: the daemon did not come up; see $LOG" >&2; exit 1; }
echo "start: bpfilter daemon pid $(cat "$PIDFILE"), socket $SOCK, log $LOG"

# Two namespaces joined by a veth pair: the rules go into $NS, packets come from $PEER.
for ns in "$NS" "$PEER"; do ip netns del "$ns" 2>/dev/null || true; ip netns add "$ns"; done
ip link add bpfdemo0 netns "$NS" type veth peer name bpfdemo1 netns "$PEER"
ip -n "$NS" addr add 10.99.0.1/24 dev bpfdemo0
ip -n "$PEER" addr add 10.99.0.2/24 dev bpfdemo1
for pair in "$NS bpfdemo0" "$PEER bpfdemo1"; do set -- $pair; ip -n "$1" link set "$2" up; ip -n "$1" link set lo up; done
bpfilter() { ip netns exec "$NS" node dist/src/cli.js run --socket "$SOCK" -- "$@"; }

echo
echo "\$ bpfilter run -- iptables-legacy-restore < examples/host-firewall.rules   (in netns $NS)"
bpfilter iptables-legacy-restore <examples/host-firewall.rules
echo "\$ bpfilter run -- iptables-legacy -A services -p tcp --dport 8080 -j ACCEPT"
bpfilter iptables-legacy -A services -p tcp --dport 8080 -j ACCEPT
echo "\$ ip netns exec $PEER ping -c 3 10.99.0.1"
ip netns exec "$PEER" ping -c 3 -i 0.2 -W 1 10.99.0.1 | tail -n 2
echo "\$ bpfilter run -- iptables-legacy -A INPUT -p icmp -j DROP   (inserted first: ping now fails)"
bpfilter iptables-legacy -I INPUT 1 -p icmp -j DROP
ip netns exec "$PEER" ping -c 2 -i 0.2 -W 1 10.99.0.1 | tail -n 2 || true
echo "\$ ip netns exec $PEER: TCP to 10.99.0.1:9 (not a service: REJECT --reject-with tcp-reset)"
ip netns exec "$PEER" node -e "const s=require('net').connect(9,'10.99.0.1');s.on('connect',()=>{console.log('connected?!');s.destroy()});s.on('error',e=>console.log(e.code+' at once: the helper sent the RST the kernel would'))"
echo "\$ dmesg | grep host-firewall   (LOG lines, written by the helper in the kernel's format)"
if [ "$(cat /proc/sys/net/netfilter/nf_log_all_netns 2>/dev/null)" = 1 ]; then
  dmesg | grep 'host-firewall: ' | tail -n 2 || true
else
  echo "(none: like the kernel, LOG writes for namespaces other than the host's only with"
  echo " sysctl net.netfilter.nf_log_all_netns=1)"
fi
echo "\$ bpfilter run -- iptables-legacy -L -v -n -x"
bpfilter iptables-legacy -L -v -n -x
echo
echo "\$ bpftool prog show   (the helper's programs: a dispatcher per hook, a ruleset program behind it)"
bpftool prog show | grep -A1 -E "name (bpfilter|bpf)_" || true
echo
echo "Last commands the helper served (one JSON line per sockopt):"
grep -v GET_REVISION "$LOG" | tail -n 4
echo
echo "The rules above are BPF programs attached at the netfilter hooks of $NS, not the kernel's ip_tables:"
echo "  ip netns exec $NS iptables-legacy -S     # the kernel's own, untouched table"
echo "Stop the daemon with: kill \$(cat $PIDFILE)"
