#!/usr/bin/env bash
# Boots the cached test guest under an emulator and checks the result.
#
#   run-guest-test.sh --emulator qemu|quail [--smp N] [--mem SIZE] [--timeout SECS]
#                     (--test NAME [--args A,B,...] | --shell 'LINE\nLINE')
#                     [--expect REGEX]... [-- EXTRA EMULATOR ARGS...]
#
# --test NAME boots with "quail.test=NAME quail.args=..." and passes if the
#   guest prints "QUAIL-TEST-RESULT: PASS NAME".
# --shell INPUT boots to the demo shell, waits for its prompt, types INPUT
#   (backslash escapes as in printf %b) and passes if the guest then powers off.
# Either way the emulator must exit by itself, with status 0, before the
# timeout, and every --expect REGEX (grep -E) must match a line of output.
# The same command line works for Debian's QEMU and for quail (`quail run`
# takes QEMU's options); QUAIL names the quail binary (default build/quail),
# QEMU_SYSTEM the QEMU one.  The console log is kept if KEEP_LOG=1.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

emulator="" smp=1 mem=512M timeout_s=180 test="" args="" shell_input="" shell=0
expects=() extra=()
while [ $# -gt 0 ]; do
    case $1 in
        --emulator) emulator=$2; shift 2 ;;
        --smp) smp=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        --timeout) timeout_s=$2; shift 2 ;;
        --test) test=$2; shift 2 ;;
        --args) args=$2; shift 2 ;;
        --shell) shell=1; shell_input=$2; shift 2 ;;
        --expect) expects+=("$2"); shift 2 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "run-guest-test: unknown option $1" >&2; exit 2 ;;
    esac
done
if [ -z "$test" ] && [ "$shell" -eq 0 ]; then
    echo "run-guest-test: need --test NAME or --shell INPUT" >&2
    exit 2
fi

case $emulator in
    qemu) emu=("${QEMU_SYSTEM:-qemu-system-riscv64}") ;;
    quail) emu=("${QUAIL:-$root/build/quail}" run) ;;
    *) echo "run-guest-test: --emulator must be qemu or quail" >&2; exit 2 ;;
esac

guest=$("$root/guest/build.sh" --print) || { echo "run-guest-test: guest build failed" >&2; exit 1; }
eval "$guest"

# earlycon=sbi makes a panic before the 8250 driver is up visible.
append="console=ttyS0 earlycon=sbi"
if [ -n "$test" ]; then
    append+=" quail.test=$test"
    [ -n "$args" ] && append+=" quail.args=$args"
fi
cmd=("${emu[@]}" -M virt -m "$mem" -smp "$smp" -nographic -bios default
     -kernel "$KERNEL" -initrd "$INITRD" -append "$append" -no-reboot "${extra[@]}")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/quail-guest.XXXXXX")
log=$tmp/console.log
emu_pid=""
cleanup() {
    [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null
    exec 3>&- 2>/dev/null
    if [ "${KEEP_LOG:-0}" = 1 ]; then echo "run-guest-test: log kept in $log" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

echo "run-guest-test: ${cmd[*]}" >&2
start=$(date +%s.%N)
deadline=$(( $(date +%s) + timeout_s ))
mkfifo "$tmp/in"
timeout -k 5 "$timeout_s" "${cmd[@]}" <"$tmp/in" >"$log" 2>&1 &
emu_pid=$!
exec 3>"$tmp/in"
panicked=0
# Returns 1 once the emulator has gone or the deadline passed; a guest kernel
# panic ends the run early (emulators idle after a panic until the timeout).
alive() {
    kill -0 "$emu_pid" 2>/dev/null || return 1
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    if grep -q 'end Kernel panic' "$log" 2>/dev/null; then
        panicked=1
        sleep 1
        kill "$emu_pid" 2>/dev/null
        return 1
    fi
}
if [ "$shell" -eq 1 ]; then
    # Typing before the guest's UART driver is up would lose the input, and
    # typing ahead lets the tty's echo of the next line interleave with the
    # output of the current one; so type one line per prompt, like a person.
    prompts() { grep -o 'quail# ' "$log" 2>/dev/null | wc -l; }
    n=1
    while IFS= read -r line; do
        while [ "$(prompts)" -lt "$n" ] && alive; do sleep 0.2; done
        alive || break
        printf '%s\n' "$line" >&3
        n=$((n + 1))
    done < <(printf '%b' "$shell_input")
fi
while alive; do sleep 0.2; done
wait "$emu_pid"
rc=$?
emu_pid=""
elapsed=$(echo "$(date +%s.%N) - $start" | bc)

# Console output has CRLF line ends.
tr -d '\r' <"$log" >"$tmp/clean.log"
fail=""
if [ "$panicked" -eq 1 ]; then
    fail="guest kernel panic"
elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    fail="timed out after ${timeout_s}s"
elif [ "$rc" -ne 0 ]; then
    fail="emulator exited with status $rc"
fi
if [ -n "$test" ] && ! grep -qxF "QUAIL-TEST-RESULT: PASS $test" "$tmp/clean.log"; then
    marker=$(grep -m1 '^QUAIL-TEST-RESULT:' "$tmp/clean.log")
    fail="${fail:+$fail; }${marker:-no QUAIL-TEST-RESULT marker}"
fi
if [ "$shell" -eq 1 ] && ! grep -q 'quail# ' "$tmp/clean.log"; then
    fail="${fail:+$fail; }shell prompt never appeared"
fi
for re in "${expects[@]}"; do
    grep -qE -- "$re" "$tmp/clean.log" || fail="${fail:+$fail; }no output line matches /$re/"
done

what="${test:-shell} on $emulator, $smp hart(s)"
if [ -n "$fail" ]; then
    echo "----- guest console -----"
    tail -n 400 "$tmp/clean.log"
    echo "-----------------------------------------"
    echo "run-guest-test: FAIL $what: $fail"
    exit 1
fi
# Show what userspace printed (everything after the kernel starts /init).
sed -n '/^Run \/init as init process/,$p' "$tmp/clean.log" | tail -n 40
echo "run-guest-test: PASS $what in ${elapsed}s"
