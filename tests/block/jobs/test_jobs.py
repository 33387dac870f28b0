#!/usr/bin/env python3
"""Bitmaps, NBD exports and backup jobs: each scenario written once and run
against quail and qemu-system-riscv64 with the same QMP commands."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmlib import VM, nbd_uri, qemu_io, nbd_map, read_all, run_main  # noqa: E402

MiB = 1 << 20
SIZE = 64 * MiB


def disk_vm(kind, tmp, fmt="qcow2", extra=()):
    img = os.path.join(tmp, f"disk.{fmt}")
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, img, str(SIZE)], check=True)
    vm = VM(kind, ["-blockdev", f"driver=file,node-name=f0,filename={img}",
                   "-blockdev", f"driver={fmt},node-name=disk0,file=f0"] + list(extra), tmp)
    sock = os.path.join(tmp, "nbd.sock")
    vm.cmd("nbd-server-start", addr={"type": "unix", "data": {"path": sock}})
    return vm, img, sock


def write_export(vm, sock, node="disk0", eid="w"):
    vm.cmd("block-export-add", type="nbd", id=eid, **{"node-name": node}, name=eid, writable=True)
    return nbd_uri(sock, eid)


def drop_export(vm, eid):
    vm.cmd("block-export-del", id=eid, mode="hard")
    vm.event("BLOCK_EXPORT_DELETED", lambda d: d.get("id") == eid)


def bitmap_export(kind, tmp):
    vm, img, sock = disk_vm(kind, tmp)
    try:
        vm.cmd("block-dirty-bitmap-add", node="disk0", name="b0")
        vm.cmd("block-dirty-bitmap-add", node="disk0", name="small", granularity=4096)
        w = write_export(vm, sock)
        qemu_io(w, "write -P 0x11 1M 128k", "write -P 0x22 10M 4k", "flush")
        bms = vm.bitmaps("disk0")
        assert bms["b0"]["count"] == 3 * 65536, bms
        assert bms["small"]["count"] == 33 * 4096, bms
        assert bms["b0"]["recording"] and not bms["b0"]["busy"]
        # An enabled bitmap cannot go out read-only; a disabled one can and is busy.
        cls, desc = vm.error("block-export-add", type="nbd", id="r", **{"node-name": "disk0"},
                             name="r", bitmaps=["b0"])
        assert desc == "Enabled bitmap 'b0' incompatible with readonly export", desc
        vm.cmd("block-dirty-bitmap-disable", node="disk0", name="b0")
        vm.cmd("block-export-add", type="nbd", id="r", **{"node-name": "disk0"}, name="r",
               bitmaps=["b0"])
        assert vm.bitmaps("disk0")["b0"]["busy"]
        cls, desc = vm.error("block-dirty-bitmap-clear", node="disk0", name="b0")
        assert "in use by another operation" in desc, desc
        r = nbd_uri(sock, "r")
        dirty = [(o, l) for o, l, t in nbd_map(r, "qemu:dirty-bitmap:b0") if t & 1]
        assert dirty == [(1 * MiB, 128 * 1024), (10 * MiB, 65536)], dirty
        alloc = [(o, l) for o, l, t in nbd_map(r, "base:allocation") if not t & 1]
        assert any(o <= 1 * MiB and o + l >= 1 * MiB + 128 * 1024 for o, l in alloc), alloc
        qemu_io(r, "read -P 0x11 1M 128k", "read -P 0x22 10M 4k", "read -P 0 2M 64k",
                read_only=True)
        # Read-only by default: writes are refused.
        out = subprocess.run(["qemu-io", "-f", "raw", "-c", "write 0 4k", r],
                             capture_output=True, text=True)
        assert out.returncode != 0 or "fail" in (out.stdout + out.stderr).lower(), out
        exports = vm.cmd("query-block-exports")
        assert [e["id"] for e in exports] == ["r", "w"], exports
        assert all(e == {"id": e["id"], "type": "nbd", "node-name": "disk0",
                         "shutting-down": False} for e in exports), exports
        drop_export(vm, "r")
        assert not vm.bitmaps("disk0")["b0"]["busy"]
        # Disabled: further writes leave it alone; "small" keeps recording.
        qemu_io(w, "write -P 0x33 20M 4k")
        bms = vm.bitmaps("disk0")
        assert bms["b0"]["count"] == 3 * 65536 and bms["small"]["count"] == 34 * 4096, bms
        vm.cmd("block-dirty-bitmap-merge", node="disk0", target="b0", bitmaps=["small"])
        assert vm.bitmaps("disk0")["b0"]["count"] == 4 * 65536
        vm.cmd("transaction", actions=[
            {"type": "block-dirty-bitmap-clear", "data": {"node": "disk0", "name": "b0"}},
            {"type": "block-dirty-bitmap-enable", "data": {"node": "disk0", "name": "b0"}}])
        assert vm.bitmaps("disk0")["b0"]["count"] == 0
        drop_export(vm, "w")
        vm.cmd("nbd-server-stop")
        assert vm.error("nbd-server-stop")[1] == "NBD server not running"
    finally:
        vm.close()


def img(tmp, name, backing=None):
    path = os.path.join(tmp, name)
    argv = ["qemu-img", "create", "-q", "-f", "qcow2"]
    if backing:
        argv += ["-b", backing, "-F", "qcow2"]
    subprocess.run(argv + [path, str(SIZE)], check=True)
    return path


def add_qcow2(vm, node, path, backing=None):
    vm.cmd("blockdev-add", driver="file", **{"node-name": node + "-f"}, filename=path)
    args = {"driver": "qcow2", "node-name": node, "file": node + "-f"}
    if backing is not None:
        args["backing"] = backing
    vm.cmd("blockdev-add", **args)


def del_qcow2(vm, node):
    vm.cmd("blockdev-del", **{"node-name": node})
    vm.cmd("blockdev-del", **{"node-name": node + "-f"})


def wait_job(vm, jid):
    ev = vm.event("BLOCK_JOB_COMPLETED", lambda d: d.get("device") == jid)
    vm.event("JOB_STATUS_CHANGE", lambda d: d.get("id") == jid and d.get("status") == "null")
    return ev["data"]


def image_bytes(path):
    out = path + ".raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", path, out], check=True)
    data = open(out, "rb").read()
    os.unlink(out)
    return data


PATTERN_A = ["write -P 0xa1 0 1M", "write -P 0xa2 5M 300k", "write -P 0xa3 63M 1M"]
PATTERN_B = ["write -P 0xb1 512k 1M", "write -P 0xb2 5100k 64k", "write -P 0xb3 30M 2M"]
PATTERN_C = ["write -P 0xc1 2M 64k", "write -P 0xc2 63M 4k"]


def backup_chain(kind, tmp):
    """Full then incremental blockdev-backup with writes throughout; the chain
    read back with qemu-img equals the disk at each backup's start."""
    vm, disk, sock = disk_vm(kind, tmp)
    try:
        w = write_export(vm, sock)
        qemu_io(w, *PATTERN_A)
        state_a = read_all(w, SIZE)
        full = img(tmp, "full.qcow2")
        add_qcow2(vm, "tfull", full)
        vm.cmd("transaction", actions=[
            {"type": "block-dirty-bitmap-add", "data": {"node": "disk0", "name": "b0"}},
            {"type": "blockdev-backup", "data": {"job-id": "jfull", "device": "disk0",
                                                 "target": "tfull", "sync": "full"}}])
        qemu_io(w, *PATTERN_B)          # while (or after) the job copies
        d = wait_job(vm, "jfull")
        assert d["type"] == "backup" and "error" not in d and d["len"] == SIZE, d
        state_b = read_all(w, SIZE)
        assert state_b != state_a
        bms = vm.bitmaps("disk0")
        assert bms["b0"]["count"] > 0 and not bms["b0"]["busy"], bms
        del_qcow2(vm, "tfull")
        assert image_bytes(full) == state_a, "full backup is not the disk at its start"

        inc = img(tmp, "inc.qcow2", backing=full)
        vm.cmd("blockdev-add", driver="file", **{"node-name": "tinc-f"}, filename=inc)
        vm.cmd("blockdev-add", driver="qcow2", **{"node-name": "tinc"}, file="tinc-f",
               backing=None)
        vm.cmd("blockdev-backup", **{"job-id": "jinc"}, device="disk0", target="tinc",
               sync="incremental", bitmap="b0")
        qemu_io(w, *PATTERN_C)
        d = wait_job(vm, "jinc")
        assert "error" not in d, d
        # Only the chunks B touched were copied.
        assert d["len"] < SIZE // 4, d
        del_qcow2(vm, "tinc")
        assert image_bytes(inc) == state_b, "incremental chain is not the disk at its start"
        # On success the bitmap holds only what was written since (C).
        assert vm.bitmaps("disk0")["b0"]["count"] == 2 * 65536, vm.bitmaps("disk0")
        # A failed start changes nothing: the bitmap is not busy, no job left.
        cls, desc = vm.error("blockdev-backup", **{"job-id": "jx"}, device="disk0",
                             target="disk0", sync="full")
        assert desc == "Source and target cannot be the same", desc
        assert vm.cmd("query-jobs") == []
    finally:
        vm.close()


def fleece_sync_none(kind, tmp):
    """The backup tool's recipe: sync=none into an overlay whose backing is
    the disk; the overlay, exported over NBD, stays at the freeze point."""
    vm, disk, sock = disk_vm(kind, tmp)
    try:
        w = write_export(vm, sock)
        qemu_io(w, *PATTERN_A)
        state_a = read_all(w, SIZE)
        scratch = os.path.join(tmp, "scratch.qcow2")
        vm.cmd("blockdev-create", **{"job-id": "c1"},
               options={"driver": "file", "filename": scratch, "size": 0})
        vm.event("JOB_STATUS_CHANGE", lambda d: d["id"] == "c1" and d["status"] == "concluded")
        vm.cmd("job-dismiss", id="c1")
        vm.cmd("blockdev-add", driver="file", **{"node-name": "sf"}, filename=scratch)
        vm.cmd("blockdev-create", **{"job-id": "c2"},
               options={"driver": "qcow2", "file": "sf", "size": SIZE})
        vm.event("JOB_STATUS_CHANGE", lambda d: d["id"] == "c2" and d["status"] == "concluded")
        jobs = vm.cmd("query-jobs")
        assert jobs == [{"id": "c2", "type": "create", "status": "concluded",
                         "current-progress": 1, "total-progress": 1}], jobs
        vm.cmd("job-dismiss", id="c2")
        vm.cmd("blockdev-add", driver="qcow2", **{"node-name": "ss"}, file="sf", backing="disk0")
        vm.cmd("transaction", actions=[
            {"type": "block-dirty-bitmap-add", "data": {"node": "disk0", "name": "f0"}},
            {"type": "blockdev-backup", "data": {"job-id": "jf", "device": "disk0",
                                                 "target": "ss", "sync": "none",
                                                 "filter-node-name": "flt"}}])
        bj = vm.cmd("query-block-jobs")
        assert len(bj) == 1 and bj[0]["device"] == "jf" and bj[0]["type"] == "backup", bj
        assert vm.node("flt")["drv"] == "copy-before-write"
        vm.cmd("job-pause", id="jf")
        vm.event("JOB_STATUS_CHANGE", lambda d: d["id"] == "jf" and d["status"] == "paused")
        bj = vm.cmd("query-block-jobs")[0]
        assert bj["paused"] is True and bj["status"] == "paused", bj
        assert vm.error("job-pause", id="jf") == ("GenericError", "Job is already paused")
        assert vm.error("job-complete", id="jf") == (
            "GenericError", "Job 'jf' in state 'paused' cannot accept command verb 'complete'")
        vm.cmd("job-resume", id="jf")
        vm.event("JOB_STATUS_CHANGE", lambda d: d["id"] == "jf" and d["status"] == "running")
        assert vm.error("job-complete", id="jf")[0] == "GenericError"
        vm.cmd("block-export-add", type="nbd", id="fe", **{"node-name": "ss"}, name="fe")
        qemu_io(w, *PATTERN_B)
        state_b = read_all(w, SIZE)
        assert state_b != state_a
        assert read_all(nbd_uri(sock, "fe"), SIZE) == state_a, "fleece export moved"
        assert vm.bitmaps("disk0")["f0"]["count"] > 0
        drop_export(vm, "fe")
        vm.cmd("job-cancel", id="jf")
        ev = vm.event("BLOCK_JOB_CANCELLED", lambda d: d.get("device") == "jf")
        assert ev["data"]["type"] == "backup", ev
        vm.event("JOB_STATUS_CHANGE", lambda d: d["id"] == "jf" and d["status"] == "null")
        assert vm.node("flt") is None, "filter left in the graph"
        vm.cmd("blockdev-del", **{"node-name": "ss"})
        vm.cmd("blockdev-del", **{"node-name": "sf"})
        # The disk itself kept every write.
        assert read_all(w, SIZE) == state_b
    finally:
        vm.close()


def fleece_snapshot_access(kind, tmp):
    """QEMU >= 7.0 fleecing: copy-before-write and snapshot-access nodes made
    with blockdev-add; writes through the filter, the snapshot stays."""
    vm, disk, sock = disk_vm(kind, tmp)
    try:
        w = write_export(vm, sock)
        qemu_io(w, *PATTERN_A)
        state_a = read_all(w, SIZE)
        drop_export(vm, "w")
        add_qcow2(vm, "tmp", img(tmp, "tmp.qcow2"))
        vm.cmd("blockdev-add", driver="copy-before-write", **{"node-name": "cbw"}, file="disk0",
               target="tmp")
        vm.cmd("blockdev-add", driver="snapshot-access", **{"node-name": "acc"}, file="cbw")
        vm.cmd("block-export-add", type="nbd", id="wc", **{"node-name": "cbw"}, name="wc",
               writable=True)
        vm.cmd("block-export-add", type="nbd", id="snap", **{"node-name": "acc"}, name="snap")
        wc = nbd_uri(sock, "wc")
        qemu_io(wc, *PATTERN_B)
        state_b = read_all(wc, SIZE)
        assert read_all(nbd_uri(sock, "snap"), SIZE) == state_a
        drop_export(vm, "snap")
        drop_export(vm, "wc")
        vm.cmd("blockdev-del", **{"node-name": "acc"})
        vm.cmd("blockdev-del", **{"node-name": "cbw"})
        del_qcow2(vm, "tmp")
        w = write_export(vm, sock)
        assert read_all(w, SIZE) == state_b
    finally:
        vm.close()


def other(kind):
    return "qemu" if kind == "quail" else "quail"


def img_info_bitmaps(path):
    r = subprocess.run(["qemu-img", "info", "-U", "--output=json", path], capture_output=True,
                       text=True, check=True)
    import json
    data = json.loads(r.stdout).get("format-specific", {}).get("data", {})
    return {b["name"]: b for b in data.get("bitmaps", [])}


def persistent_bitmaps(kind, tmp):
    """Persistent bitmaps written by `kind` load in the other emulator and the
    reverse; qemu-img lists them; a crash leaves them in use/inconsistent."""
    vm, disk, sock = disk_vm(kind, tmp)
    try:
        vm.cmd("block-dirty-bitmap-add", node="disk0", name="p0", persistent=True)
        vm.cmd("block-dirty-bitmap-add", node="disk0", name="p1", persistent=True,
               granularity=4096, disabled=True)
        vm.cmd("block-dirty-bitmap-add", node="disk0", name="t0")
        w = write_export(vm, sock)
        qemu_io(w, "write -P 1 1M 100k", "write -P 2 60M 8k")
        vm.cmd("block-dirty-bitmap-enable", node="disk0", name="p1")
        qemu_io(w, "write -P 3 30M 4k")
        before = vm.bitmaps("disk0")
        assert before["p0"]["count"] == 4 * 65536 and before["p1"]["count"] == 4096, before
    finally:
        vm.close()
    info = img_info_bitmaps(disk)
    assert set(info) == {"p0", "p1"}, info
    assert info["p0"]["granularity"] == 65536 and info["p1"]["granularity"] == 4096, info
    assert info["p0"]["flags"] == ["auto"], info
    chk = subprocess.run(["qemu-img", "check", disk], capture_output=True, text=True)
    assert chk.returncode == 0, chk.stdout + chk.stderr

    # The other emulator loads them with the same contents, and writes on.
    os.unlink(os.path.join(tmp, "nbd.sock"))
    vm = VM(other(kind), ["-blockdev", f"driver=file,node-name=f0,filename={disk}",
                          "-blockdev", "driver=qcow2,node-name=disk0,file=f0"], tmp)
    try:
        got = vm.bitmaps("disk0")
        assert set(got) == {"p0", "p1"}, got
        for n in ("p0", "p1"):
            assert got[n]["count"] == before[n]["count"], (n, got, before)
            assert got[n]["persistent"] and got[n]["recording"] and not got[n].get("inconsistent")
        assert got["p1"]["granularity"] == 4096
        # In use while open read-write.
        assert img_info_bitmaps(disk)["p0"]["flags"] == ["in-use", "auto"], img_info_bitmaps(disk)
        vm.cmd("nbd-server-start", addr={"type": "unix", "data": {"path": sock}})
        w = write_export(vm, sock)
        qemu_io(w, "write -P 4 10M 64k")
        vm.cmd("block-dirty-bitmap-remove", node="disk0", name="p1")
        drop_export(vm, "w")
        after = vm.bitmaps("disk0")
        assert after["p0"]["count"] == 5 * 65536, after
    finally:
        vm.close()
    assert set(img_info_bitmaps(disk)) == {"p0"}
    assert subprocess.run(["qemu-img", "check", disk], capture_output=True).returncode == 0

    # Back in the first emulator; then killed: the bitmap stays in use and
    # loads as inconsistent.
    vm = VM(kind, ["-blockdev", f"driver=file,node-name=f0,filename={disk}",
                   "-blockdev", "driver=qcow2,node-name=disk0,file=f0"], tmp)
    got = vm.bitmaps("disk0")
    assert got["p0"]["count"] == 5 * 65536 and not got["p0"].get("inconsistent"), got
    vm.proc.kill()
    vm.proc.wait()
    assert img_info_bitmaps(disk)["p0"]["flags"] == ["in-use", "auto"]
    vm = VM(other(kind), ["-blockdev", f"driver=file,node-name=f0,filename={disk}",
                          "-blockdev", "driver=qcow2,node-name=disk0,file=f0"], tmp)
    try:
        got = vm.bitmaps("disk0")["p0"]
        assert got["inconsistent"] is True and got["recording"] is False, got
        cls, desc = vm.error("block-dirty-bitmap-enable", node="disk0", name="p0")
        assert desc == "Bitmap 'p0' is inconsistent and cannot be used", desc
        vm.cmd("block-dirty-bitmap-remove", node="disk0", name="p0")
    finally:
        vm.close()
    assert img_info_bitmaps(disk) == {}


def backup_target_full(kind, tmp):
    """A target that runs out of room (a 1 MiB raw window under the qcow2
    target) fails the job with BLOCK_JOB_ERROR; the source is untouched and
    the graph and bitmap are as before."""
    vm, disk, sock = disk_vm(kind, tmp)
    try:
        w = write_export(vm, sock)
        qemu_io(w, "write -P 0x77 0 8M")
        state = read_all(w, SIZE)
        small = img(tmp, "small.qcow2")
        os.truncate(small, 1 << 20)
        vm.cmd("blockdev-add", driver="file", **{"node-name": "sm-f"}, filename=small)
        vm.cmd("blockdev-add", driver="raw", **{"node-name": "sm-w"}, file="sm-f", size=1 << 20)
        vm.cmd("blockdev-add", driver="qcow2", **{"node-name": "sm"}, file="sm-w")
        vm.cmd("block-dirty-bitmap-add", node="disk0", name="b0")
        vm.cmd("blockdev-backup", **{"job-id": "jf"}, device="disk0", target="sm",
               sync="incremental", bitmap="b0")
        # Nothing written since b0 was added: an empty incremental succeeds.
        d = wait_job(vm, "jf")
        assert "error" not in d and d["len"] == 0, d
        vm.cmd("blockdev-backup", **{"job-id": "jf2"}, device="disk0", target="sm",
               sync="full", bitmap="b0", **{"bitmap-mode": "on-success"})
        err = vm.event("BLOCK_JOB_ERROR", lambda d: d.get("device") == "jf2")["data"]
        assert err == {"device": "jf2", "operation": "write", "action": "report"}, err
        d = wait_job(vm, "jf2")
        assert d.get("error"), d
        # Source intact, filter gone, bitmap back (nothing was written: empty).
        assert read_all(w, SIZE) == state
        names = {n["node-name"] for n in vm.cmd("query-named-block-nodes", flat=True)}
        assert names == {"f0", "disk0", "sm-f", "sm-w", "sm"}, names
        b = vm.bitmaps("disk0")["b0"]
        assert not b["busy"] and b["recording"] and b["count"] == 0, b
        qemu_io(w, "write -P 0x78 1M 4k")
        assert vm.bitmaps("disk0")["b0"]["count"] == 65536
        # Bad arguments: QEMU's classes and messages, never a crash.
        for args, want in [
                ({"sync": "bitmap"}, "must provide a valid bitmap name for 'bitmap' sync mode"),
                ({"sync": "full", "bitmap": "zz"}, "Bitmap 'zz' could not be found"),
                ({"sync": "bogus"}, "Parameter 'sync' does not accept value 'bogus'"),
                ({"sync": "full", "bitmap-mode": "always"},
                 "Cannot specify bitmap sync mode without a bitmap")]:
            cls, desc = vm.error("blockdev-backup", **{"job-id": "jx", "device": "disk0",
                                                       "target": "sm"}, **args)
            assert (cls, desc) == ("GenericError", want), (args, cls, desc)
        # A transaction whose last action fails leaves no job, filter or
        # changed bitmap behind.
        cls, desc = vm.error("transaction", actions=[
            {"type": "block-dirty-bitmap-clear", "data": {"node": "disk0", "name": "b0"}},
            {"type": "blockdev-backup", "data": {"job-id": "jt", "device": "disk0",
                                                 "target": "sm", "sync": "full",
                                                 "filter-node-name": "tflt"}},
            {"type": "block-dirty-bitmap-add", "data": {"node": "disk0", "name": "b0"}}])
        assert desc == "Bitmap already exists: b0", desc
        if kind == "qemu":
            # QEMU creates the job while preparing and then aborts it; quail
            # starts jobs only once every action prepared.
            vm.event("JOB_STATUS_CHANGE", lambda d: d["id"] == "jt" and d["status"] == "null")
        names = {n["node-name"] for n in vm.cmd("query-named-block-nodes", flat=True)}
        assert names == {"f0", "disk0", "sm-f", "sm-w", "sm"}, names
        b = vm.bitmaps("disk0")["b0"]
        assert b["count"] == 65536 and not b["busy"], b
        assert vm.error("job-cancel", id="zz") == ("GenericError", "Job not found")
        assert vm.error("block-job-cancel", device="zz") == ("DeviceNotActive",
                                                              "Block job 'zz' not found")
        assert vm.cmd("query-jobs") == []
    finally:
        vm.close()


def throttle_filter(kind, tmp):
    """Throttle nodes sharing a group: data passes unchanged, and the group's
    write budget holds across both nodes.  Only lower bounds on time are
    asserted (a slow machine cannot break them; a missing limit does)."""
    import time
    imgs = []
    for i in range(2):
        imgs.append(os.path.join(tmp, f"d{i}.qcow2"))
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", imgs[-1], str(SIZE)], check=True)
    args = ["-object", "throttle-group,id=G,x-bps-write=4194304"]
    for i in range(2):
        args += ["-blockdev", f"driver=file,node-name=f{i},filename={imgs[i]}",
                 "-blockdev", f"driver=qcow2,node-name=disk{i},file=f{i}",
                 "-blockdev", f"driver=throttle,node-name=t{i},throttle-group=G,file=disk{i}"]
    vm = VM(kind, args, tmp)
    sock = os.path.join(tmp, "nbd.sock")
    try:
        vm.cmd("nbd-server-start", addr={"type": "unix", "data": {"path": sock}})
        uris = []
        for i in range(2):
            vm.cmd("block-export-add", type="nbd", id=f"e{i}", **{"node-name": f"t{i}"},
                   writable=True)
            uris.append(nbd_uri(sock, f"t{i}"))
        t = time.monotonic()
        # A request is let through while the bucket is under its allowance and
        # the next one pays for it, so the data goes in 64 KiB requests.
        qemu_io(uris[0], *[f"write -P 0x31 {k * 64}k 64k" for k in range(64)])
        one = time.monotonic() - t
        # 4 MiB at 4 MiB/s, less QEMU's avg/10 initial allowance.
        assert one >= 0.8, f"4 MiB through a 4 MiB/s group took {one:.2f}s"
        time.sleep(0.3)     # let the bucket drain
        t = time.monotonic()
        def writes(pat):
            argv = []
            for k in range(48):
                argv += ["-c", f"write -P 0x{pat:x} {8192 + k * 64}k 64k"]
            return argv
        ps = [subprocess.Popen(["qemu-io", "-f", "raw"] + writes(0x40 + i) + [uris[i]],
                               stdout=subprocess.DEVNULL) for i in range(2)]
        assert all(p.wait() == 0 for p in ps)
        both = time.monotonic() - t
        assert both >= 1.3, f"6 MiB through one shared 4 MiB/s group took {both:.2f}s"
        qemu_io(uris[0], "read -P 0x31 0 4M", "read -P 0x40 8M 3M", read_only=True)
        qemu_io(uris[1], "read -P 0x41 8M 3M", "read -P 0 0 4M", read_only=True)
        # Reads are not limited by a write-only group.
        assert vm.error("object-del", id="G")[1] == "object 'G' is in use, can not be deleted"
        for i in range(2):
            drop_export(vm, f"e{i}")
            vm.cmd("blockdev-del", **{"node-name": f"t{i}"})
        vm.cmd("object-del", id="G")
    finally:
        vm.close()
    for i, pat in ((0, 0x40), (1, 0x41)):
        r = subprocess.run(["qemu-io", "-f", "qcow2", "-r", "-c", f"read -P 0x{pat:x} 8M 3M",
                            imgs[i]], capture_output=True, text=True)
        assert "Pattern verification failed" not in r.stdout and r.returncode == 0, r.stdout


def reopen_insert(kind, tmp):
    """A throttle filter goes between a format node and its file with
    blockdev-reopen while a writer is busy, and comes out again; no write is
    lost and the limit applies while it is in."""
    import time
    vm, disk, sock = disk_vm(kind, tmp, extra=["-object",
                                              "throttle-group,id=G,x-bps-write=2097152"])
    try:
        w = write_export(vm, sock)
        vm.cmd("blockdev-add", driver="throttle", **{"node-name": "tf"}, file="f0",
               **{"throttle-group": "G"})
        argv = ["qemu-io", "-f", "raw"]
        for k in range(96):
            argv += ["-c", f"write -P 0x5e {k * 64}k 64k"]
        argv += ["-c", "flush"]
        writer = subprocess.Popen(argv + [w], stdout=subprocess.DEVNULL)
        vm.cmd("blockdev-reopen", options=[{"driver": "qcow2", "node-name": "disk0",
                                            "file": "tf"}])
        assert vm.error("blockdev-del", **{"node-name": "tf"})[1] == "Block device tf is in use"
        t = time.monotonic()
        qemu_io(w, *[f"write -P 0x6f {32 + k * 64}M 64k" for k in range(0, 1)],
                *[f"write -P 0x6f {(32 << 10) + k * 64}k 64k" for k in range(32)])
        assert time.monotonic() - t >= 0.6, "no limit while the filter was in"
        assert writer.wait() == 0
        vm.cmd("blockdev-reopen", options=[{"driver": "qcow2", "node-name": "disk0",
                                            "file": "f0"}])
        vm.cmd("blockdev-del", **{"node-name": "tf"})
        qemu_io(w, "read -P 0x5e 0 6M", "read -P 0x6f 32M 2M", "read -P 0 6M 1M",
                read_only=True)
        vm.cmd("object-del", id="G")
    finally:
        vm.close()


def bad_args(kind, tmp):
    """Every command of this area with missing, mistyped, unknown or absurd
    arguments answers with an error (never a crash or a hang)."""
    import random
    vm, disk, sock = disk_vm(kind, tmp)
    cmds = {
        "block-dirty-bitmap-add": {"node": "disk0", "name": "x", "granularity": 65536},
        "block-dirty-bitmap-remove": {"node": "disk0", "name": "x"},
        "block-dirty-bitmap-clear": {"node": "disk0", "name": "x"},
        "block-dirty-bitmap-enable": {"node": "disk0", "name": "x"},
        "block-dirty-bitmap-disable": {"node": "disk0", "name": "x"},
        "block-dirty-bitmap-merge": {"node": "disk0", "target": "x", "bitmaps": ["y"]},
        "blockdev-backup": {"job-id": "j", "device": "disk0", "target": "t", "sync": "full"},
        "block-export-add": {"type": "nbd", "id": "e", "node-name": "disk0"},
        "block-export-del": {"id": "e"},
        "nbd-server-add": {"device": "disk0"},
        "nbd-server-remove": {"name": "disk0"},
        "job-cancel": {"id": "j"}, "job-pause": {"id": "j"}, "job-finalize": {"id": "j"},
        "block-job-cancel": {"device": "j"},
        "transaction": {"actions": [{"type": "block-dirty-bitmap-add",
                                     "data": {"node": "disk0", "name": "x"}}]},
        "object-add": {"qom-type": "throttle-group", "id": "g"},
        "object-del": {"id": "g"},
        "blockdev-reopen": {"options": [{"driver": "qcow2", "node-name": "disk0"}]},
        "block_set_io_throttle": {"id": "x", "bps": 0, "bps_rd": 0, "bps_wr": 0, "iops": 0,
                                  "iops_rd": 0, "iops_wr": 0},
    }
    weird = [None, 0, -1, 2 ** 63 - 1, -2 ** 63, "", "x" * 5000, [], {}, [1, {}],
             {"a": {"b": []}}, True, 1.5, "\u0000"]
    rng = random.Random(5)
    try:
        for name, good in cmds.items():
            for _ in range(30):
                args = dict(good)
                k = rng.choice(list(args) + ["bogus"])
                how = rng.randrange(3)
                if how == 0 and k in args:
                    del args[k]
                else:
                    args[k] = rng.choice(weird)
                    if k in ("actions", "options") and rng.randrange(2):
                        args[k] = [{"type": rng.choice(["block-dirty-bitmap-add",
                                                        "blockdev-backup", "x"]),
                                    "data": {kk: rng.choice(weird) for kk in
                                             ("node", "name", "job-id", "device", "sync")}}]
                try:
                    vm.cmd(name, **args)
                except Exception as e:
                    assert getattr(e, "cls", None) in ("GenericError", "DeviceNotActive",
                                                       "DeviceNotFound"), (name, args, e)
            # Still alive and answering.
            assert vm.cmd("query-status")["status"] in ("running", "prelaunch", "paused")
        for j in vm.cmd("query-jobs"):
            vm.cmd("job-cancel", id=j["id"])
    finally:
        vm.close()


def snapshot_sync(kind, tmp):
    """blockdev-snapshot-sync in a transaction: users move onto the new
    overlay, the base keeps the old data; a failing transaction leaves no
    overlay behind."""
    vm, disk, sock = disk_vm(kind, tmp)
    s1, s2 = os.path.join(tmp, "s1.qcow2"), os.path.join(tmp, "s2.qcow2")
    try:
        w = write_export(vm, sock)
        qemu_io(w, "write -P 0x11 0 1M")
        cls, desc = vm.error("transaction", actions=[
            {"type": "blockdev-snapshot-sync", "data": {"node-name": "disk0",
                                                        "snapshot-file": s2,
                                                        "snapshot-node-name": "s2"}},
            {"type": "block-dirty-bitmap-add", "data": {"node": "nope", "name": "x"}}])
        assert desc == "Cannot find device='nope' nor node-name='nope'", desc
        assert vm.node("s2") is None
        vm.cmd("transaction", actions=[
            {"type": "blockdev-snapshot-sync", "data": {"node-name": "disk0",
                                                        "snapshot-file": s1,
                                                        "snapshot-node-name": "s1",
                                                        "format": "qcow2"}},
            {"type": "block-dirty-bitmap-add", "data": {"node": "disk0", "name": "b"}}])
        assert vm.error("blockdev-snapshot-sync", **{"node-name": "disk0"},
                        **{"snapshot-file": s2})[1] == \
            "Node 'disk0' is busy: node is used as backing hd of 's1'"
        qemu_io(w, "write -P 0x22 512k 1M")
        assert vm.cmd("query-block-exports")[0]["node-name"] == "s1"
        n = vm.node("s1")
        assert n["drv"] == "qcow2" and n["backing_file"] == disk, n
        qemu_io(w, "read -P 0x11 0 512k", "read -P 0x22 512k 1M", read_only=True)
        drop_export(vm, "w")
    finally:
        vm.close()
    r = subprocess.run(["qemu-io", "-f", "qcow2", "-r", "-c", "read -P 0x11 0 1M", disk],
                       capture_output=True, text=True)
    assert "verification failed" not in r.stdout and r.returncode == 0, r.stdout
    r = subprocess.run(["qemu-img", "info", "--output=json", s1], capture_output=True,
                       text=True, check=True)
    import json
    assert json.loads(r.stdout)["backing-filename"] == disk, r.stdout


def backup_slow_writes(kind, tmp):
    """A full backup held to 4 MiB/s while the host rewrites the disk through
    its export: every rewrite lands while chunks are still pending, so the
    copy-before-write path runs; the backup is the disk at the start."""
    vm, disk, sock = disk_vm(kind, tmp)
    try:
        w = write_export(vm, sock)
        qemu_io(w, "write -P 0x1a 0 16M", "write -P 0x1b 40M 4M")
        state_a = read_all(w, SIZE)
        full = img(tmp, "full.qcow2")
        add_qcow2(vm, "tfull", full)
        vm.cmd("blockdev-backup", **{"job-id": "js"}, device="disk0", target="tfull",
               sync="full", speed=4 << 20)
        # Writes from the end backwards: the job copies from the start.
        qemu_io(w, *[f"write -P 0x2c {k}M 1M" for k in range(63, 31, -1)],
                *[f"write -P 0x2d {k}M 64k" for k in range(15, 0, -1)])
        j = vm.cmd("query-block-jobs")
        assert j and j[0]["speed"] == 4 << 20 and j[0]["offset"] < SIZE, j
        vm.cmd("block-job-set-speed", device="js", speed=0)
        d = wait_job(vm, "js")
        assert "error" not in d, d
        del_qcow2(vm, "tfull")
        assert image_bytes(full) == state_a, "backup is not the disk at its start"
    finally:
        vm.close()


SCENARIOS = [("backup-slow-writes", backup_slow_writes), ("snapshot-sync", snapshot_sync), ("bad-args", bad_args), ("reopen-insert", reopen_insert), ("throttle", throttle_filter), ("backup-target-full", backup_target_full), ("persistent-bitmaps", persistent_bitmaps), ("bitmap-export", bitmap_export), ("backup-chain", backup_chain),
             ("fleece-sync-none", fleece_sync_none),
             ("fleece-snapshot-access", fleece_snapshot_access)]

if __name__ == "__main__":
    run_main(SCENARIOS)
