#!/usr/bin/env bash
# The kernel module's end-to-end test (run as root, after `make build`): builds bpfilter.ko
# against bookworm's 6.1 headers (compile check) and bookworm-backports' 6.12 headers, boots
# that 6.12 kernel under qemu (TCG) with this machine's root shared read-only over 9p, and runs
# scripts/kmod-vm-guest.sh inside it. The guest prints `KMOD-RESULT <name> ok|fail <detail>` lines;
# this script echoes them and exits 0 only if the guest finished and none failed.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
out=$repo/build/kmod-vm
started=$SECONDS

rel=$(scripts/kmod-setup.sh | tail -1)
[ -f dist/src/cli.js ] && [ -x native/build/umh-launch ] || {
  echo "kmod-vm: build first (make build)" >&2
  exit 1
}

# Builds the module out of tree in its own directory, so the source tree stays clean.
build_module() { # KDIR DIR
  rm -rf "$2"
  mkdir -p "$2"
  cp kmod/Kbuild kmod/bpfilter.c "$2/"
  local log
  log=$(make -C "$1" M="$2" modules 2>&1) || {
    echo "$log" | sed 's/^/kmod-build: /'
    return 1
  }
  echo "$log" | sed 's/^/kmod-build: /'
  # Kbuild passes -Werror (kmod/Kbuild); this also catches what modpost calls a warning.
  if grep -qi 'warning' <<<"$log"; then
    echo "kmod-build: $(basename "$1"): warnings" >&2
    return 1
  fi
  echo "kmod-build: $(basename "$1"): built without warnings"
}
old=$(ls -d /usr/src/linux-headers-6.1.*-amd64 | sort -V | tail -1)
build_module "$old" "$out/module-6.1"
build_module "/usr/src/linux-headers-$rel" "$out/module-$rel"

# The initramfs: a static busybox, the 9p client modules (decompressed: busybox insmod cannot
# read .ko.xz) and an /init that mounts the host root and chroots into the guest script.
mods=/lib/modules/$rel
root=$out/initramfs
rm -rf "$root"
mkdir -p "$root/bin" "$root/mod" "$root/host"
cp /bin/busybox "$root/bin/busybox"
order=()
add_module() { # path relative to $mods, dependencies first
  local m=$1 d
  for d in $(grep "^$m:" "$mods/modules.dep" | cut -d: -f2); do add_module "$d"; done
  [[ " ${order[*]} " == *" $m "* ]] && return
  order+=("$m")
  xz -dc "$mods/$m" >"$root/mod/$(basename "$m" .xz)"
}
for m in 9p 9pnet_virtio; do add_module "$(grep -o "^[^:]*/$m\.ko\.xz" "$mods/modules.dep")"; done
{
  echo '#!/bin/busybox sh'
  echo '/bin/busybox mount -t proc proc /proc 2>/dev/null || { /bin/busybox mkdir /proc; /bin/busybox mount -t proc proc /proc; }'
  for m in "${order[@]}"; do echo "/bin/busybox insmod /mod/$(basename "$m" .xz)"; done
  echo '/bin/busybox mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 host /host'
  # pid 1 shares its root with kthreadd, so the module's usermode helper also runs in /host.
  echo "exec /bin/busybox chroot /host /bin/bash $repo/scripts/kmod-vm-guest.sh $repo $rel"
} >"$root/init"
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out/initramfs.cpio.gz"
echo "kmod-vm: prepared in $((SECONDS - started)) s; booting $rel under TCG"

boot=$SECONDS
log=$out/console.log
status=0
# The guest needs about 140 s alone; under the rest of the suite on 2 CPUs insmod alone took 93 s.
timeout 420 qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 2048 -nographic -no-reboot \
  -kernel "/boot/vmlinuz-$rel" -initrd "$out/initramfs.cpio.gz" \
  -append "console=ttyS0 panic=-1 loglevel=4" \
  -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
  </dev/null >"$log" 2>&1 || status=$?
tr -d '\r' <"$log" >"$log.txt"
grep '^KMOD-RESULT ' "$log.txt" || true
echo "kmod-vm: guest ran $((SECONDS - boot)) s (qemu status $status), $((SECONDS - started)) s in all"
if ! grep -q '^KMOD-RESULT done ok' "$log.txt" || grep -q '^KMOD-RESULT [^ ]* fail' "$log.txt"; then
  echo "kmod-vm: FAILED; the guest's console:" >&2
  tail -n 80 "$log.txt" >&2
  exit 1
fi
