#!/usr/bin/env bash
# Idempotent set-up for the kernel module and its VM test (run as root): the bookworm-backports
# suite in apt's sources, then whatever is missing of qemu, busybox, Debian 12's 6.1 headers and
# the backports 6.12 kernel image + headers. Prints the 6.12 kernel release it settled on.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
sources=/etc/apt/sources.list.d/bookworm-backports.sources
updated=
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat >"$sources" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -qq
  updated=1
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# The newest 6.12 unsigned image the backports suite offers; its ABI name also names the headers.
release() {
  apt-cache search --names-only '^linux-image-6\.12\..*\+deb12-amd64-unsigned$' |
    awk '{print $1}' | sed -e 's/^linux-image-//' -e 's/-unsigned$//' | sort -V | tail -1
}
rel=$(ls -d /lib/modules/6.12.*+deb12-amd64 2>/dev/null | sed 's|.*/||' | sort -V | tail -1 || true)
if [ -z "$rel" ]; then
  rel=$(release)
  if [ -z "$rel" ] && [ -z "$updated" ]; then
    apt-get update -qq
    updated=1
    rel=$(release)
  fi
  [ -n "$rel" ] || { echo "kmod-setup: no 6.12 kernel in bookworm-backports" >&2; exit 1; }
fi

packages=(qemu-system-x86 busybox-static cpio xz-utils kmod gcc make libc6-dev
  linux-headers-amd64 "linux-image-$rel-unsigned" "linux-headers-$rel")
missing=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "kmod-setup: installing ${missing[*]}" >&2
  [ -n "$updated" ] || apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "$rel"
