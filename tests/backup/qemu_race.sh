#!/usr/bin/env bash
# Writes racing the freeze: a writer appends sequence-numbered blocks (block i
# at offset i*64K, pattern i%250+1, strictly in order) to two disks through a
# second QMP connection while backups run.  Every backup must restore to a
# prefix of the sequence (one instant, the same on both disks: they are frozen
# in one transaction), and every write must be in exactly one incremental: the
# chain's restores grow monotonically and the final one holds every block.
. "$(dirname "$0")/qemu_lib.sh"
new_disk d0 qcow2 64M; new_disk d1 qcow2 64M
start_qemu d0:qcow2 d1:qcow2
mkdir "$T/repo"; "$QUAIL" backup init "$T/repo" >/dev/null

# The writer keeps one QMP connection and issues writes back to back (about
# a millisecond each), so writes are in flight while the transaction runs.
writer() {
    python3 - "$T/qmp2.sock" "$T/stop" "$T/written" <<'PY'
import json, os, socket, sys
sock, stop, written = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX); s.connect(sock); f = s.makefile("rw")
def cmd(c, **a):
    f.write(json.dumps({"execute": c, "arguments": a}) + "\n"); f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r:
            if "error" in r or "rror" in str(r.get("return", "")):
                sys.exit(f"writer: {r}")
            return r
f.readline(); cmd("qmp_capabilities")
i = 0
while not os.path.exists(stop) and i < 1000:
    for d in ("d0", "d1"):
        cmd("human-monitor-command",
            **{"command-line": f'qemu-io {d} "write -P {i % 250 + 1} {i * 65536} 65536"'})
    i += 1
    with open(written, "w") as w: w.write(str(i))
PY
}
writer & WPID=$!
ids=()
for k in 1 2 3 4; do
    sleep 0.$((RANDOM % 5 + 2))
    backup; ids+=("$BID")
done
touch "$T/stop"; wait $WPID || fail "writer failed"
backup; ids+=("$BID")
total=$(cat "$T/written")
[ "$total" -ge 10 ] || fail "writer wrote only $total blocks"

prefix_len() { # FILE: length of the written prefix; fails if not a prefix
    python3 - "$1" <<'PY'
import sys
data = open(sys.argv[1], 'rb').read()
B = 65536
n = 0
while n * B < len(data) and data[n*B:(n+1)*B] == bytes([n % 250 + 1]) * B:
    n += 1
if any(data[n*B:]):
    sys.exit(f"not one instant: block {n} not written but later data present")
print(n)
PY
}
last=0
for id in "${ids[@]}"; do
    for d in d0 d1; do
        "$QUAIL" backup restore "$T/repo" "$id" --disk $d --to "$T/r.$d.raw" >/dev/null || fail "restore $id"
        eval "n_$d=\$(prefix_len \"\$T/r.\$d.raw\")" || fail "backup $id disk $d"
    done
    # d0 is written before d1 for each i, so at one instant n1 <= n0 <= n1 + 1.
    [ "$n_d1" -le "$n_d0" ] && [ "$n_d0" -le $((n_d1 + 1)) ] ||
        fail "backup $id: disks frozen at different instants ($n_d0 vs $n_d1)"
    [ "$n_d0" -ge "$last" ] || fail "backup $id lost writes ($n_d0 < $last)"
    last=$n_d0
    echo "backup $id: $n_d0 blocks"
done
[ "$last" = "$total" ] || fail "final backup has $last of $total blocks"
ok "$total racing writes each landed in exactly one backup"
