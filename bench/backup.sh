#!/usr/bin/env bash
# Full-backup throughput of `quail backup run` against reading the same
# disk over the same kind of NBD export with `qemu-img convert` (and nbdcopy)
# in the same run, plus virtnbdbackup through libvirt when that works here.
# "nbdcopy to null:" reads the export and throws the data away: how fast QEMU
# can serve it at all, the ceiling for every tool here.
#   bench/backup.sh [--size MIB] [--reps N] [--warm-qemu]
# The disk is a qcow2 image filled with a mix of random (incompressible) and
# repetitive data and 25 % holes, attached to an idle x86_64 QEMU (no guest).
# Each tool runs --reps times (default 3); medians in MiB/s of disk data, and
# the ratio quail/tool (above 1: quail faster).  The tools compared leave their
# output in the page cache; the "then sync -f" rows include making it durable,
# which quail's repository is when `backup run` returns.  The tools take turns
# within each round, each against a QEMU started for it (see start_qemu);
# virtnbdbackup runs last (it needs a libvirt domain).
# Each timed run starts after a sync, so no tool pays for another's writeback.
# The virtnbdbackup row needs
# `apt-get install virtnbdbackup libvirt-daemon-system` and a running libvirtd
# (without systemd: `virtlogd -d; libvirtd -d`); otherwise it says why not.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
size=1024 reps=3 warm=
while [ $# -gt 0 ]; do
    case $1 in
        --size) size=$2; shift 2 ;;
        --reps) reps=$2; shift 2 ;;
        --warm-qemu) warm=1; shift ;;
        *) echo "usage: $0 [--size MIB] [--reps N] [--warm-qemu]" >&2; exit 2 ;;
    esac
done
quail=${QUAIL:-$root/build/quail}
[ -x "$quail" ] || { echo "no quail binary at $quail (build it or set QUAIL)" >&2; exit 1; }
T=$(mktemp -d "${TMPDIR:-/var/tmp}/quail-bench-backup.XXXXXX")
chmod 711 "$T"   # libvirt's QEMU runs as another user and must reach the image
QPID=
cleanup() {
    [ -n "$QPID" ] && kill -9 "$QPID" 2>/dev/null; wait 2>/dev/null
    [ -n "${dom:-}" ] && virsh -q -c qemu:///system destroy "$dom" >/dev/null 2>&1
    rm -rf "$T" "${shm:-/nonexistent}"
}
trap cleanup EXIT
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "preparing a ${size} MiB disk..." >&2
qemu-img create -q -f qcow2 "$T/d0.qcow2" "${size}M"
# Per 4 MiB: 2 MiB random, 1 MiB repeating text, 1 MiB hole.
python3 - "$T/fill.raw" "$size" <<'PY'
import os, sys
path, size = sys.argv[1], int(sys.argv[2])
text = (b"quail backup benchmark line of fairly compressible text 0123456789\n" * 16000)[:1 << 20]
with open(path, "wb") as f:
    for i in range(size // 4):
        f.write(os.urandom(2 << 20)); f.write(text); f.seek(1 << 20, 1)
    f.truncate(size << 20)
PY
qemu-img convert -n -f raw -O qcow2 "$T/fill.raw" "$T/d0.qcow2" && rm -f "$T/fill.raw"
data=$(( size * 3 / 4 ))   # MiB of data (the holes are not read by anyone)

qmp() { "$quail" backup qmp "$T/qmp.sock" "$@"; }
url="nbd+unix:///d0?socket=$T/nbd.sock"
# Every timed run gets a QEMU of its own, started afresh: QEMU's NBD server
# allocates a buffer per request, and how much of that memory glibc keeps
# between requests depends on the largest requests the process has served
# so far, so one tool's requests would change the next tool's cost (e.g.
# 4 MiB requests before qemu-img convert spare it ~100k page faults).
# --warm-qemu instead serves 16 MiB requests to each new QEMU first, the state
# of one that has seen large requests.
start_qemu() {
    if [ -n "$QPID" ]; then
        qmp quit >/dev/null 2>&1; wait "$QPID" 2>/dev/null; QPID=
    fi
    rm -f "$T/qmp.sock"
    qemu-system-x86_64 -machine q35,accel=tcg -nodefaults -display none \
        -qmp "unix:$T/qmp.sock,server=on,wait=off" \
        -drive "file=$T/d0.qcow2,if=none,id=d0,node-name=d0n,format=qcow2" -device virtio-blk-pci,drive=d0 \
        >>"$T/qemu.log" 2>&1 &   # HMP qemu-io prints its "wrote ..." lines on QEMU's stdout
    QPID=$!
    for _ in $(seq 100); do [ -S "$T/qmp.sock" ] && break; sleep 0.1; done
    [ -S "$T/qmp.sock" ] || { echo "QEMU did not start:" >&2; cat "$T/qemu.log" >&2; exit 1; }
    if [ -n "$warm" ]; then
        export_on
        nbdcopy --request-size=$((16 << 20)) --requests=2 "$url" null: || exit 1
        export_off
    fi
}
# The same disk through QEMU's NBD server, read-only (the VM is idle).
export_on() {
    qmp nbd-server-start "{\"addr\":{\"type\":\"unix\",\"data\":{\"path\":\"$T/nbd.sock\"}}}" >/dev/null
    qmp block-export-add '{"type":"nbd","id":"bench","node-name":"d0n","name":"d0","writable":false}' >/dev/null
}
export_off() {
    qmp block-export-del '{"id":"bench"}' >/dev/null; qmp nbd-server-stop >/dev/null
}

declare -A rate
# The tools take turns within each round (not all reps of one tool, then the
# next), so a busy shared machine slows every tool alike.  quail does full
# backups into a fresh repository each time (no dedup help), once on the same
# file system as the disk and once in /dev/shm, where syncing is free: the
# difference is the repository's durability cost, not the data path.
quail_once() { # REPODIR
    rm -rf "$1"; mkdir "$1"; "$quail" backup init "$1" >/dev/null
    sync; t0=$(now)
    TMPDIR=$T "$quail" backup run --qmp "$T/qmp.sock" --full "$1" >/dev/null || { echo "quail backup failed" >&2; exit 1; }
    t1=$(now)
    echo "$data / ($t1 - $t0)" | bc -l
    rm -rf "$1"
}
shm=""
[ -d /dev/shm ] && [ -w /dev/shm ] && shm=$(mktemp -d /dev/shm/quail-bench-repo.XXXXXX)
for r in $(seq "$reps"); do
    start_qemu; quail_once "$T/repo" >>"$T/quail.rates"
    [ -n "$shm" ] && { start_qemu; quail_once "$shm/repo" >>"$T/quailshm.rates"; }
    start_qemu; export_on
    rm -f "$T/out.qcow2"; sync; t0=$(now)
    qemu-img convert -f raw -O qcow2 "$url" "$T/out.qcow2" || exit 1
    t1=$(now); echo "$data / ($t1 - $t0)" | bc -l >>"$T/convert.rates"
    # convert leaves its output in the page cache; quail's repository is
    # durable when it returns.  Adding the sync compares like with like.
    sync -f "$T/out.qcow2"
    t2=$(now); echo "$data / ($t2 - $t0)" | bc -l >>"$T/convertsync.rates"
    start_qemu; export_on
    rm -f "$T/out.raw"; sync; t0=$(now)
    nbdcopy "$url" "$T/out.raw" || exit 1
    t1=$(now); echo "$data / ($t1 - $t0)" | bc -l >>"$T/nbdcopy.rates"
    start_qemu; export_on
    sync; t0=$(now)
    nbdcopy "$url" null: || exit 1
    t1=$(now); echo "$data / ($t1 - $t0)" | bc -l >>"$T/nbdnull.rates"
    export_off
    rm -f "$T/out.qcow2" "$T/out.raw"
done
# Incremental cost: a full backup, then 1 % of the disk rewritten in
# 64 KiB pieces spread over it, then an incremental; its time as a fraction
# of the full's.
start_qemu
rm -rf "$T/increpo"; mkdir "$T/increpo"; "$quail" backup init "$T/increpo" >/dev/null
t0=$(now)
TMPDIR=$T "$quail" backup run --qmp "$T/qmp.sock" "$T/increpo" >/dev/null || { echo "quail backup failed" >&2; exit 1; }
t1=$(now)
pieces=$(( size * 16 / 100 ))          # 1 % of the disk in 64 KiB writes
stride=$(( size * 1024 * 1024 / pieces / 65536 * 65536 ))
for i in $(seq 0 $((pieces - 1))); do
    "$quail" backup qmp "$T/qmp.sock" --hmp "qemu-io d0 \"write -P 0x5a $((i * stride)) 64k\"" >/dev/null
done
t2=$(now)
TMPDIR=$T "$quail" backup run --qmp "$T/qmp.sock" "$T/increpo" >/dev/null || { echo "quail backup failed" >&2; exit 1; }
t3=$(now)
inc_full=$(echo "$t1 - $t0" | bc -l)
inc_inc=$(echo "$t3 - $t2" | bc -l)
rm -rf "$T/increpo"

for k in quail quailshm convert convertsync nbdcopy nbdnull; do
    [ -s "$T/$k.rates" ] && rate[$k]=$(median <"$T/$k.rates")
done
[ -n "$shm" ] && rm -rf "$shm"

# virtnbdbackup drives the same QEMU machinery through libvirt, so the VM must
# be a libvirt domain: stop our QEMU and start one on the same image.
virt=""
if ! command -v virtnbdbackup >/dev/null; then
    virt="not installed (apt-get install virtnbdbackup libvirt-daemon-system)"
elif ! virsh -c qemu:///system version >/dev/null 2>&1; then
    virt="libvirt not running here (start libvirtd)"
else
    qmp quit >/dev/null; wait "$QPID" 2>/dev/null; QPID=
    dom=quail-bench-$$
    cat >"$T/dom.xml" <<XML
<domain type='qemu'><name>$dom</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='q35'>hvm</type></os>
<devices><emulator>$(command -v qemu-system-x86_64)</emulator>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
<source file='$T/d0.qcow2'/><target dev='vda' bus='virtio'/></disk></devices></domain>
XML
    if virsh -q -c qemu:///system create "$T/dom.xml" >/dev/null 2>"$T/virsh.err"; then
        for r in $(seq "$reps"); do
            rm -rf "$T/vbk"; sync; t0=$(now)
            virtnbdbackup -U qemu:///system -d "$dom" -l copy -o "$T/vbk" >/dev/null 2>&1 || { echo -1; continue; }
            t1=$(now); echo "$data / ($t1 - $t0)" | bc -l
            sync -f "$T/vbk"
            t2=$(now); echo "$data / ($t2 - $t0)" | bc -l >>"$T/virtsync.rates"
        done | median >"$T/virt.rate"
        virsh -q -c qemu:///system destroy "$dom" >/dev/null 2>&1
        rate[virt]=$(cat "$T/virt.rate")
        [ -s "$T/virtsync.rates" ] && rate[virtsync]=$(median <"$T/virtsync.rates")
        case ${rate[virt]} in -*) virt="virtnbdbackup failed" ;; esac
    else
        virt="libvirt could not start the domain: $(head -1 "$T/virsh.err")"
    fi
fi

qstate="a new QEMU per run"
[ -n "$warm" ] && qstate="a new QEMU per run, warmed with 16 MiB requests"
printf '\nfull backup of a %d MiB qcow2 disk (%d MiB data), median of %d, MiB/s of data, %s\n' \
    "$size" "$data" "$reps" "$qstate"
printf '%-42s %10s %14s\n' tool "MiB/s" "quail/tool"
printf '%-42s %10.1f %14s\n' "quail backup run --full" "${rate[quail]}" "1.00"
[ -n "${rate[quailshm]:-}" ] && printf '%-42s %10.1f %14.2f\n' "  same, repository in /dev/shm" "${rate[quailshm]}" "$(echo "${rate[quail]} / ${rate[quailshm]}" | bc -l)"
printf '%-42s %10.1f %14.2f\n' "qemu-img convert -O qcow2 (NBD)" "${rate[convert]}" "$(echo "${rate[quail]} / ${rate[convert]}" | bc -l)"
printf '%-42s %10.1f %14.2f\n' "  same, then sync -f" "${rate[convertsync]}" "$(echo "${rate[quail]} / ${rate[convertsync]}" | bc -l)"
printf '%-42s %10.1f %14.2f\n' "nbdcopy to raw (NBD)" "${rate[nbdcopy]}" "$(echo "${rate[quail]} / ${rate[nbdcopy]}" | bc -l)"
printf '%-42s %10.1f %14.2f\n' "nbdcopy to null: (QEMU's serving ceiling)" "${rate[nbdnull]}" "$(echo "${rate[quail]} / ${rate[nbdnull]}" | bc -l)"
if [ -z "$virt" ]; then
    printf '%-42s %10.1f %14.2f\n' "virtnbdbackup -l copy (libvirt)" "${rate[virt]}" "$(echo "${rate[quail]} / ${rate[virt]}" | bc -l)"
    [ -n "${rate[virtsync]:-}" ] && printf '%-42s %10.1f %14.2f\n' "  same, then sync -f" "${rate[virtsync]}" "$(echo "${rate[quail]} / ${rate[virtsync]}" | bc -l)"
else
    printf '%-42s %10s   %s\n' "virtnbdbackup" "-" "$virt"
fi
printf '\nincremental after 1 %% of the disk rewritten (%d x 64 KiB): %.2f s, %.3f of the full backup (%.2f s)\n' \
    "$pieces" "$inc_inc" "$(echo "$inc_inc / $inc_full" | bc -l)" "$inc_full"
