#!/usr/bin/env python3
"""`quail backup run` against a quail VM (its QEMU counterpart lives in
tests/backup/qemu_*.sh): a full then an incremental backup of a disk attached
to virtio-blk, with writes between them through the VM's own NBD export;
both restores equal the disk at their backup."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmlib import VM, nbd_uri, qemu_io, read_all, run_main  # noqa: E402

SIZE = 64 << 20
QUAIL = os.environ.get("QUAIL", "build/quail")


def host_write(vm, tmp, *cmds):
    """Writes through a writable export on a private NBD server, stopped again
    so the backup tool can start its own; returns the disk content."""
    sock = os.path.join(tmp, "w.sock")
    vm.cmd("nbd-server-start", addr={"type": "unix", "data": {"path": sock}})
    vm.cmd("block-export-add", type="nbd", id="w", **{"node-name": "disk0"}, writable=True)
    uri = nbd_uri(sock, "disk0")
    qemu_io(uri, *cmds)
    data = read_all(uri, SIZE)
    vm.cmd("nbd-server-stop")
    vm.event("BLOCK_EXPORT_DELETED", lambda d: d.get("id") == "w")
    return data


def tool(*args):
    r = subprocess.run([QUAIL, "backup"] + list(args), capture_output=True, text=True)
    assert r.returncode == 0, f"quail backup {args}: {r.stdout}{r.stderr}"
    return r.stdout


def backup_tool(kind, tmp):
    disk = os.path.join(tmp, "d.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, str(SIZE)], check=True)
    toolsock = os.path.join(tmp, "tool.sock")
    vm = VM(kind, ["-qmp", f"unix:{toolsock},server=on,wait=off",
                   "-blockdev", f"driver=file,node-name=f0,filename={disk}",
                   "-blockdev", "driver=qcow2,node-name=disk0,file=f0",
                   "-device", "virtio-blk-pci,drive=disk0,id=d0"], tmp)
    repo = os.path.join(tmp, "repo")
    try:
        tool("init", repo)
        a = host_write(vm, tmp, "write -P 0x5a 1M 3M", "write -P 0x5b 40M 64k")
        out = tool("run", "--qmp", toolsock, repo)
        assert "full" in out, out
        b = host_write(vm, tmp, "write -P 0x6c 2M 64k", "write -P 0x6d 50M 1M")
        out = tool("run", "--qmp", toolsock, repo)
        assert "incremental" in out and "changes since" in out, out
        ids = [l.split()[0] for l in tool("list", repo).splitlines()[1:] if l.strip()]
        assert len(ids) == 2, ids
        for bid, want in zip(ids, (a, b)):
            out = os.path.join(tmp, f"{bid}.raw")
            tool("restore", repo, bid, "--disk", "d0", "--to", out)
            assert open(out, "rb").read() == want, f"restore of {bid} differs"
        # The tool leaves nothing behind in the VM.
        assert vm.cmd("query-jobs") == [] and vm.cmd("query-block-exports") == []
        names = {n["node-name"] for n in vm.cmd("query-named-block-nodes", flat=True)}
        assert names == {"f0", "disk0"}, names
    finally:
        vm.close()


if __name__ == "__main__":
    run_main([("backup-tool", backup_tool)])
