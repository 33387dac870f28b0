#!/usr/bin/env bash
# Builds the test guest (kernel Image + initramfs) into a cache outside the
# repository, keyed by a hash of everything that goes into each, so a second
# run is instant.  Concurrent callers serialise on flock; only one builds.
#   guest/build.sh           build what is missing
#   guest/build.sh --print   build if needed, then print KERNEL=... and INITRD=...
# QUAIL_CACHE overrides the cache directory, QUAIL_JOBS the make -j (2).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${QUAIL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/quail}
print=0
case "${1:-}" in
    --print) print=1 ;;
    "") ;;
    *) echo "usage: $0 [--print]" >&2; exit 2 ;;
esac
mkdir -p "$cache"

versions() { dpkg-query -W -f='${Package} ${Version}\n' "$@"; }
hash_of() { # files... then "--" then package names
    local files=() pkgs=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do files+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    pkgs=("$@")
    { for f in "${files[@]}"; do printf '%s\n' "${f#"$here"/}"; cat "$f"; done
      versions "${pkgs[@]}"; } | sha256sum | cut -c1-16
}

khash=$(hash_of "$here/kernel.config" "$here/kernel.sh" -- linux-source-6.1 gcc-riscv64-linux-gnu)
mapfile -t progs < <(find "$here/programs" -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort)
ihash=$(hash_of "$here/initramfs.sh" "${progs[@]}" -- gcc-riscv64-linux-gnu libc6-dev-riscv64-cross linux-source-6.1)
kernel=$cache/kernel-$khash/Image
initrd=$cache/initramfs-$ihash.cpio.gz

# Both builds need the unpacked kernel source (the initramfs uses its
# usr/gen_init_cpio so device nodes need no root).
ver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
src=$cache/linux-source-6.1-$ver
if [ ! -e "$src/.unpacked" ]; then
    exec 8>"$cache/source.lock"
    flock 8
    if [ ! -e "$src/.unpacked" ]; then
        echo "guest: unpacking /usr/src/linux-source-6.1.tar.xz into $src" >&2
        rm -rf "$src" "$src.tmp"
        mkdir -p "$src.tmp"
        tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$src.tmp" --strip-components=1
        touch "$src.tmp/.unpacked"
        mv "$src.tmp" "$src"
    fi
    exec 8>&-
fi

if [ ! -e "$initrd" ]; then
    exec 8>"$cache/initramfs.lock"
    flock 8
    [ -e "$initrd" ] || "$here/initramfs.sh" "$src" "$cache" "$initrd"
    exec 8>&-
fi
if [ ! -e "$kernel" ]; then
    exec 9>"$cache/kernel.lock"
    flock 9
    [ -e "$kernel" ] || "$here/kernel.sh" "$cache" "$kernel"
    exec 9>&-
fi

if [ "$print" -eq 1 ]; then
    echo "KERNEL=$kernel"
    echo "INITRD=$initrd"
fi
