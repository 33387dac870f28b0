#!/usr/bin/env bash
# Linux-initiated reset on the virt machine: a kernel that panics with
# panic=1 reboots through SBI SRST -> OpenSBI -> sifive_test, and quail brings
# the whole machine (2 harts, firmware, kernel, initrd, DT) up again.  With
# -no-reboot the same reset ends quail with status 0.
set -u
Q=${QUAIL:?QUAIL not set}
SRC=${QUAIL_SRC:?QUAIL_SRC not set}
eval "$("$SRC/guest/build.sh" --print)" || { echo "guest build failed"; exit 1; }
T=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
APPEND="console=ttyS0 rdinit=/nonexistent panic=1"

"$Q" run -M virt -smp 2 -serial file:"$T/serial" -kernel "$KERNEL" -initrd "$INITRD" \
    -append "$APPEND" </dev/null 2>"$T/err" &
pid=$!
ok=0
for _ in $(seq 1 600); do
    n=$(grep -c 'Brought up 1 node, 2 CPUs' "$T/serial" 2>/dev/null)
    if [ "${n:-0}" -ge 2 ]; then ok=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
done
kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
if [ $ok -ne 1 ]; then
    echo "FAIL: no second boot after the panic reset"; tail -20 "$T/serial"; cat "$T/err"; exit 1
fi
echo "ok: $(grep -c 'OpenSBI v1.1' "$T/serial") firmware starts, rebooted after panic"

timeout 300 "$Q" run -M virt -smp 2 -no-reboot -serial file:"$T/serial2" -kernel "$KERNEL" \
    -initrd "$INITRD" -append "$APPEND" </dev/null
rc=$?
n=$(grep -c 'OpenSBI v1.1' "$T/serial2")
if [ $rc -ne 0 ] || [ "$n" -ne 1 ] || ! grep -q 'Rebooting in 1 seconds' "$T/serial2"; then
    echo "FAIL: -no-reboot: rc=$rc, $n firmware starts"; tail -5 "$T/serial2"; exit 1
fi
echo "ok: -no-reboot exits 0 on the guest's reset"
