#!/usr/bin/env bash
# Builds the guest kernel Image: `make tinyconfig` of Debian's linux-source-6.1
# plus guest/kernel.config, then checks that every option the fragment sets
# really ended up in .config (olddefconfig silently drops options whose
# dependencies are missing).  Called by guest/build.sh under its lock.
# Usage: kernel.sh CACHE_DIR OUT_IMAGE
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=$1 out=$2
frag=$here/kernel.config
jobs=${QUAIL_JOBS:-2}
kmake=(make ARCH=riscv CROSS_COMPILE=riscv64-linux-gnu- -j"$jobs")

ver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
src=$cache/linux-source-6.1-$ver
[ -e "$src/.unpacked" ] || { echo "guest: kernel source not unpacked at $src" >&2; exit 1; }

# One out-of-tree build directory shared by all fragment versions, so editing
# the fragment rebuilds incrementally instead of from scratch.
kbuild=$cache/kbuild-riscv-$ver
mkdir -p "$kbuild"
log=$cache/kernel-build.log
: >"$log"
run() { "$@" >>"$log" 2>&1 || { tail -n 40 "$log" >&2; echo "guest: kernel build failed, see $log" >&2; exit 1; }; }

run "${kmake[@]}" -C "$src" O="$kbuild" tinyconfig
cat "$frag" >>"$kbuild/.config"
run "${kmake[@]}" -C "$src" O="$kbuild" olddefconfig

missing=0
while IFS= read -r line; do
    case $line in CONFIG_*=*) ;; *) continue ;; esac
    if ! grep -qxF -- "$line" "$kbuild/.config"; then
        got=$(grep -E "^(# )?${line%%=*}[= ]" "$kbuild/.config" || echo "absent")
        echo "guest: kernel option $line did not survive olddefconfig (got: $got)" >&2
        missing=1
    fi
done <"$frag"
[ "$missing" -eq 0 ] || { echo "guest: fix guest/kernel.config (missing dependencies?)" >&2; exit 1; }

echo "guest: building kernel Image (-j$jobs, log in $log)" >&2
start=$(date +%s)
run "${kmake[@]}" -C "$src" O="$kbuild" Image
echo "guest: kernel built in $(( $(date +%s) - start ))s" >&2
mkdir -p "$(dirname "$out")"
cp "$kbuild/arch/riscv/boot/Image" "$out.tmp"
cp "$kbuild/.config" "$(dirname "$out")/config"
mv "$out.tmp" "$out"
