#!/usr/bin/env bash
# Times quail against Debian's qemu-system-riscv64 (TCG) on the test guest:
#   boot-smp1 / boot-smp4: wall time from launch until the emulator exits after
#       the guest printed the PASS marker of a trivial test and powered off;
#   cpubench: the guest-reported time of guest/programs/cpubench.c, and MIPS
#       from an instruction count measured once under QEMU -icount shift=0
#       (cpubench is deterministic, so the count holds for both emulators).
# Each measurement runs --reps times (default 3); the table shows medians and
# the ratio quail/qemu (for times lower is better, for MIPS higher).
#   bench/run.sh [--reps N] [--iters N] [--only quail|qemu]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
reps=3 iters=40 only=""
while [ $# -gt 0 ]; do
    case $1 in
        --reps) reps=$2; shift 2 ;;
        --iters) iters=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        *) echo "usage: $0 [--reps N] [--iters N] [--only quail|qemu]" >&2; exit 2 ;;
    esac
done
quail=${QUAIL:-$root/build/quail}
qemu=${QEMU_SYSTEM:-qemu-system-riscv64}
timeout_s=${BENCH_TIMEOUT:-600}
eval "$("$root/guest/build.sh" --print)" || exit 1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/quail-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

emu_cmd() { # emulator -> command prefix
    case $1 in
        quail) echo "$quail run" ;;
        qemu) echo "$qemu" ;;
    esac
}

# run EMU SMP TEST ARGS [EXTRA...] -> prints "elapsed_seconds" and leaves the
# console in $tmp/out; returns nonzero unless the test passed.
run() {
    local emu=$1 smp=$2 test=$3 args=$4; shift 4
    local append="console=ttyS0 quail.test=$test"
    [ -n "$args" ] && append+=" quail.args=$args"
    local start end rc
    start=$(date +%s.%N)
    # shellcheck disable=SC2046
    timeout -k 5 "$timeout_s" $(emu_cmd "$emu") -M virt -m 512M -smp "$smp" -nographic \
        -bios default -kernel "$KERNEL" -initrd "$INITRD" -append "$append" -no-reboot "$@" \
        </dev/null >"$tmp/out" 2>&1
    rc=$?
    end=$(date +%s.%N)
    tr -d '\r' <"$tmp/out" >"$tmp/clean"
    [ "$rc" -eq 0 ] && grep -qxF "QUAIL-TEST-RESULT: PASS $test" "$tmp/clean" || return 1
    printf '%.3f\n' "$(echo "$end - $start" | bc)"
}

median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print "fail"; else if (NR%2) print v[(NR+1)/2]; else printf "%.4f\n", (v[NR/2]+v[NR/2+1])/2}'; }

# measure NAME EMU KIND SMP TEST ARGS: KIND=wall or cpubench
measure() {
    local emu=$2 kind=$3 smp=$4 test=$5 args=$6 i vals=()
    for ((i = 0; i < reps; i++)); do
        local t
        t=$(run "$emu" "$smp" "$test" "$args") || { echo "bench: $1 failed under $emu" >&2; tail -n 5 "$tmp/clean" >&2; return 0; }
        if [ "$kind" = cpubench ]; then
            t=$(sed -n 's/.*time_ms=\([0-9.]*\).*/\1/p' "$tmp/clean" | head -n1)
            t=$(printf '%.3f' "$(echo "scale=4; $t / 1000" | bc)")
        fi
        vals+=("$t")
    done
    printf '%s\n' "${vals[@]}" | median
}

emus=(quail qemu)
[ -n "$only" ] && emus=("$only")
declare -A result
for emu in "${emus[@]}"; do
    echo "bench: $emu: boot-smp1" >&2
    result[boot1,$emu]=$(measure boot-smp1 "$emu" wall 1 cpuinfo expect=1)
    echo "bench: $emu: boot-smp4" >&2
    result[boot4,$emu]=$(measure boot-smp4 "$emu" wall 4 cpuinfo expect=4)
    echo "bench: $emu: cpubench" >&2
    result[cpu,$emu]=$(measure cpubench "$emu" cpubench 1 cpubench "iters=$iters")
done

# Instruction count of cpubench: with -icount shift=0 QEMU's instret counts
# one per instruction (without it, QEMU's instret is the host TSC).
echo "bench: counting cpubench instructions (qemu -icount shift=0)" >&2
instr=""
if run qemu 1 cpubench "iters=$iters" -icount shift=0 >/dev/null; then
    instr=$(sed -n 's/.*instret=\([0-9]*\).*/\1/p' "$tmp/clean" | head -n1)
fi

ratio() { [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]] && printf '%.2f' "$(echo "scale=4; $1 / $2" | bc -l)" || echo "-"; }
mips() { [[ $1 =~ ^[0-9.]+$ && -n $instr ]] && printf '%.1f' "$(echo "scale=2; $instr / ($1 * 1000000)" | bc -l)" || echo "-"; }
v() { local x=${result[$1,$2]:-}; echo "${x:-"-"}"; }

printf '\n%-28s %10s %10s %14s\n' "benchmark (median of $reps)" quail qemu "ratio q/qemu"
for row in boot1:"boot to init, 1 hart (s)" boot4:"boot to init, 4 harts (s)" cpu:"cpubench (s)"; do
    key=${row%%:*} label=${row#*:}
    printf '%-28s %10s %10s %14s\n' "$label" "$(v "$key" quail)" "$(v "$key" qemu)" \
        "$(ratio "$(v "$key" quail)" "$(v "$key" qemu)")"
done
mq=$(mips "$(v cpu quail)") mm=$(mips "$(v cpu qemu)")
printf '%-28s %10s %10s %14s\n' "cpubench MIPS" "$mq" "$mm" "$(ratio "$mq" "$mm")"
echo "cpubench: iters=$iters, ${instr:-unknown} instructions (QEMU icount)"
