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
    vm.cmd("block-export-del", id=eid)
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


SCENARIOS = [("bitmap-export", bitmap_export)]

if __name__ == "__main__":
    run_main(SCENARIOS)
