#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine (run as root): apt packages that are missing,
# npm dependencies when the lockfile changed, then the TypeScript and native builds.
set -euo pipefail
cd "$(dirname "$0")/.."

# systemd: for systemd-analyze, which checks the installed unit (make install) even where
# systemd is not PID 1.
APT_PACKAGES=(libbpf1 libbpf-dev iptables nftables bpftool iproute2 iputils-ping util-linux gcc make libc6-dev linux-libc-dev systemd ufw fail2ban)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # ufw and fail2ban are test clients (test/clients/): their packages must not start a firewall
  # or a ban daemon on this machine, so service starts are refused while they install.
  policy=/usr/sbin/policy-rc.d
  ours=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && ours=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$ours" ]; then rm -f "$policy"; fi
fi

stamp=node_modules/.lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "setup: npm ci"
  npm ci --no-fund --no-audit --loglevel=error
  cp package-lock.json "$stamp"
fi

echo "setup: building"
npx tsc -p tsconfig.json
make -s -C native

# The host's bpffs, where pins outlive the helper: systemd mounts it at boot, a bare container
# init may not have (the daemon mounts it too when started in the host's mount namespace, but
# tests that pin without one need it first).
if [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" != "bpf_fs" ]; then
  echo "setup: mounting the host's bpffs on /sys/fs/bpf"
  mount -t bpf bpf /sys/fs/bpf
fi
