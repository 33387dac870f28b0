#!/usr/bin/env bash
# Builds the guest initramfs: every guest/programs/*.c is one static riscv64
# program; init.c becomes /init, sh.c /bin/sh, NAME.c /bin/NAME.  The archive
# is written with the kernel's own usr/gen_init_cpio so /dev/console can be
# created without root.  Called by guest/build.sh under its lock.
# Usage: initramfs.sh KERNEL_SRC CACHE_DIR OUT.cpio.gz
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$1 cache=$2 out=$3
cc=riscv64-linux-gnu-gcc
cflags=(-static -O2 -g0 -Wall -Wextra -Werror -pthread -I"$here/programs")

work=$(mktemp -d "$cache/initramfs-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

gen=$cache/gen_init_cpio
if [ ! -x "$gen" ] || [ "$src/usr/gen_init_cpio.c" -nt "$gen" ]; then
    cc -O2 -o "$gen.tmp" "$src/usr/gen_init_cpio.c"
    mv "$gen.tmp" "$gen"
fi

list=$work/list
cat >"$list" <<LIST
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
dir /proc 0755 0 0
dir /sys 0755 0 0
dir /tmp 01777 0 0
dir /root 0700 0 0
dir /bin 0755 0 0
LIST
for c in "$here"/programs/*.c; do
    name=$(basename "$c" .c)
    "$cc" "${cflags[@]}" -o "$work/$name" "$c" -lm
    riscv64-linux-gnu-strip "$work/$name"
    case $name in
        init) echo "file /init $work/$name 0755 0 0" ;;
        *) echo "file /bin/$name $work/$name 0755 0 0" ;;
    esac >>"$list"
done

"$gen" -t 0 "$list" | gzip -9n >"$out.tmp"
mv "$out.tmp" "$out"
echo "guest: built $out" >&2
