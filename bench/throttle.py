#!/usr/bin/env python3
"""Throttle filter accuracy and cost, quail vs qemu-system-riscv64.

Host-side: requests come from qemu-io over the emulator's own NBD export of a
throttle node (the guest path needs virtio-blk to follow filter insertion;
see docs/block-filters.md).  Prints for each emulator:
  - MB/s through a 10 MB/s bps-write limit over ~10 s (target within 5 %)
  - write IOPS through a 500 iops-write limit
  - each disk's share when two disks share one 10 MB/s group
  - throughput with an unlimited throttle node / without: the filter's cost
Usage: bench/throttle.py [quail|qemu ...]   (QUAIL=path/to/quail)
"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "block", "jobs"))
from vmlib import VM, nbd_uri  # noqa: E402

MB = 1000 * 1000


def bench_argv(uri, size_k, count):
    # Eight requests in flight, like a guest with a queue, not one at a time.
    return ["qemu-img", "bench", "-f", "raw", "-w", "-d", "8", "-c", str(count),
            "-s", f"{size_k}k", "-S", f"{size_k}k", uri]


def writes(uri, size_k, count, base_k=0):
    t = time.monotonic()
    subprocess.run(bench_argv(uri, size_k, count), check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t


def run(kind):
    tmp = tempfile.mkdtemp(prefix="bench-thr-")
    imgs = []
    for i in range(3):
        imgs.append(os.path.join(tmp, f"d{i}.raw"))
        subprocess.run(["qemu-img", "create", "-q", "-f", "raw", imgs[-1], "1G"], check=True)
    args = ["-object", "throttle-group,id=B,x-bps-write=10000000",
            "-object", "throttle-group,id=I,x-iops-write=500",
            "-object", "throttle-group,id=S,x-bps-write=10000000",
            "-object", "throttle-group,id=U"]
    for i in range(3):
        args += ["-blockdev", f"driver=file,node-name=d{i},filename={imgs[i]}"]
    args += ["-blockdev", "driver=throttle,node-name=tb,throttle-group=B,file=d0",
             "-blockdev", "driver=throttle,node-name=ti,throttle-group=I,file=d0",
             "-blockdev", "driver=throttle,node-name=s1,throttle-group=S,file=d1",
             "-blockdev", "driver=throttle,node-name=s2,throttle-group=S,file=d2",
             "-blockdev", "driver=throttle,node-name=tu,throttle-group=U,file=d0"]
    vm = VM(kind, args, tmp)
    sock = os.path.join(tmp, "nbd.sock")
    try:
        vm.cmd("nbd-server-start", addr={"type": "unix", "data": {"path": sock}})
        for n in ("tb", "ti", "s1", "s2", "tu", "d0"):
            vm.cmd("block-export-add", type="nbd", id=n, **{"node-name": n}, writable=True)
        u = lambda n: nbd_uri(sock, n)
        t = writes(u("tb"), 64, 1600)                        # ~100 MB at 10 MB/s
        print(f"{kind}: bps-write 10 MB/s limit: {1600 * 65536 / t / MB:.2f} MB/s over {t:.1f}s")
        t = writes(u("ti"), 4, 5000)
        print(f"{kind}: iops-write 500 limit: {5000 / t:.0f} IOPS over {t:.1f}s")
        ps, t0 = [], time.monotonic()
        for n in ("s1", "s2"):
            ps.append((n, subprocess.Popen(bench_argv(u(n), 64, 800), stdout=subprocess.DEVNULL)))
        ends = {}
        while len(ends) < 2:
            for n, p in ps:
                if n not in ends and p.poll() is not None:
                    ends[n] = time.monotonic() - t0
            time.sleep(0.01)
        for n in ("s1", "s2"):
            print(f"{kind}: shared 10 MB/s group, {n}: {800 * 65536 / ends[n] / MB:.2f} MB/s")
        writes(u("d0"), 1024, 512, 0)          # allocate the file's blocks first
        base, filt = [], []
        for _ in range(5):                      # interleaved, best of five each
            base.append(writes(u("d0"), 1024, 512, 0))
            filt.append(writes(u("tu"), 1024, 512, 0))
        base, filt = min(base), min(filt)
        print(f"{kind}: unlimited throttle node: {base / filt:.3f} of the throughput without it")
    finally:
        vm.close()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    for k in sys.argv[1:] or ["quail", "qemu"]:
        run(k)
