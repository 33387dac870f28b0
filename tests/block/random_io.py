#!/usr/bin/env python3
"""Random writes, zero writes and discards (many across cluster boundaries)
applied by quail to a qcow2 image and to a raw image; then Debian's qemu-img
must find no errors or leaks in the qcow2 and identical content in both.

usage: random_io.py QUAIL WORKDIR SEED CLUSTER_SIZE [COMPAT]"""
import random
import subprocess
import sys

quail, work, seed, cs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
compat = sys.argv[5] if len(sys.argv) > 5 else "1.1"
rng = random.Random(seed)
size = 8 << 20
q = f"{work}/r{seed}.qcow2"
r = f"{work}/r{seed}.raw"


def run(*args, check=True):
    p = subprocess.run(args, capture_output=True, text=True)
    if check and p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(args)} -> {p.returncode}\n{p.stdout}{p.stderr}")
    return p


run(quail, "img", "create", "-q", "-f", "qcow2", "-o", f"cluster_size={cs},compat={compat}", q, str(size))
run(quail, "img", "create", "-q", "-f", "raw", r, str(size))

ops = []
for i in range(120):
    kind = rng.random()
    off = rng.randrange(0, size - 1)
    ln = rng.choice([1, 17, 512, cs - 1, cs, cs + 1, 3 * cs + 5, 100000, 300000])
    ln = min(ln, size - off)
    if kind < 0.70:
        ops.append(f"write -P {rng.randrange(1, 256)} {off} {ln}")
    elif kind < 0.80:
        ops.append(f"aio-write -P {rng.randrange(1, 256)} {off} {ln}")
    elif kind < 0.90:
        ops.append(f"write -z {'-u ' if rng.random() < 0.5 else ''}{off} {ln}")
    else:
        ops.append(f"discard {off} {ln}")

# Discard is advisory (partial clusters stay), so the raw reference gets the
# same discards through quail's raw driver only when they cover whole
# clusters; otherwise compare what the qcow2 reports against a model.
model = bytearray(size)
for batch in range(0, len(ops), 40):
    chunk = ops[batch:batch + 40]
    args = [quail, "img", "io", "-f", "qcow2", q]
    for o in chunk:
        args += ["-c", o]
    run(*args)
    for o in chunk:
        parts = o.split()
        off, ln = int(parts[-2]), int(parts[-1])
        if parts[0] in ("write", "aio-write") and parts[1] == "-P":
            model[off:off + ln] = bytes([int(parts[2])]) * ln
        elif parts[0] == "write":
            model[off:off + ln] = bytes(ln)
        else:
            a = (off + cs - 1) // cs * cs
            b = (off + ln) // cs * cs if off + ln < size else off + ln
            if b > a:
                model[a:b] = bytes(b - a)

with open(r, "r+b") as f:
    f.write(model)

c = run("qemu-img", "check", q, check=False)
if c.returncode != 0 or "No errors were found" not in c.stdout:
    sys.exit(f"FAIL: qemu-img check rc={c.returncode}\n{c.stdout}{c.stderr}")
run("qemu-img", "compare", "-f", "qcow2", "-F", "raw", q, r)
c = run(quail, "img", "check", q, check=False)
if c.returncode != 0:
    sys.exit(f"FAIL: quail img check rc={c.returncode}\n{c.stdout}{c.stderr}")
print(f"ok seed={seed} cluster_size={cs} compat={compat}")
