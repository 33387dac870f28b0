#!/usr/bin/env python3
"""Fleecing while the guest overwrites its disk (both emulators).

The host fills a raw disk with pattern A; the test guest boots and
overwrites it with pattern B (guest/programs/blkpattern.c).  As soon as QMP
answers, a copy-before-write node goes between the raw format node and its
file with blockdev-reopen (for raw, file offsets are guest offsets), a
snapshot-access node goes above it and is exported over NBD.  While the
guest writes, the export is read again and again; every full read must be
pattern A exactly.  After poweroff the disk holds pattern B.
Usage: guest_fleece.py --emulator quail|qemu
"""
import os
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.abspath(os.path.join(here, "..", "..", ".."))
sys.path.insert(0, here)
from vmlib import QmpError, nbd_uri  # noqa: E402
import vmlib  # noqa: E402

SIZE = 32 << 20


class Attach(vmlib.VM):
    """QMP on an emulator someone else started."""
    def __init__(self, sock, proc):
        self.kind, self.tmp, self.sock, self.proc = "?", None, sock, proc
        import socket
        deadline = time.time() + 60
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(sock)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("no QMP socket")
                time.sleep(0.05)
        self.s.settimeout(60)
        self.buf, self.events = b"", []
        self.read_msg()
        self.cmd("qmp_capabilities")


def main():
    kind = sys.argv[sys.argv.index("--emulator") + 1]
    tmp = tempfile.mkdtemp(prefix="guest-fleece-")
    try:
        bp = os.path.join(tmp, "blkpattern")
        subprocess.run(["cc", "-O2", "-I", os.path.join(root, "guest", "programs"), "-o", bp,
                        os.path.join(root, "guest", "programs", "blkpattern.c")], check=True)
        disk = os.path.join(tmp, "disk.raw")
        open(disk, "wb").close()
        os.truncate(disk, SIZE)
        subprocess.run([bp, f"dev={disk}", f"size={SIZE}", "seed=1", "mode=write"], check=True,
                       stdout=subprocess.DEVNULL)
        state_a = open(disk, "rb").read()
        tmpq = os.path.join(tmp, "cbw.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", tmpq, str(SIZE)], check=True)
        qmp = os.path.join(tmp, "qmp.sock")
        if os.path.exists(qmp):
            os.unlink(qmp)
        nbd = os.path.join(tmp, "nbd.sock")
        env = dict(os.environ)
        proc = subprocess.Popen(
            [os.path.join(root, "tests", "guest", "run-guest-test.sh"), "--emulator", kind,
             "--smp", "2", "--timeout", "300", "--test", "blkpattern",
             "--args", f"dev=/dev/vda,size={SIZE},seed=2,mode=write", "--",
             "-blockdev", f"driver=file,node-name=f0,filename={disk}",
             "-blockdev", "driver=raw,node-name=disk0,file=f0",
             "-device", "virtio-blk-pci,drive=disk0,id=vd0",
             "-qmp", f"unix:{qmp},server=on,wait=off"], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        vm = Attach(qmp, proc)
        vm.cmd("blockdev-add", driver="file", **{"node-name": "tq-f"}, filename=tmpq)
        vm.cmd("blockdev-add", driver="qcow2", **{"node-name": "tq"}, file="tq-f")
        vm.cmd("blockdev-add", driver="copy-before-write", **{"node-name": "cbw"}, file="f0",
               target="tq")
        vm.cmd("blockdev-reopen", options=[{"driver": "raw", "node-name": "disk0",
                                            "file": "cbw"}])
        vm.cmd("blockdev-add", driver="snapshot-access", **{"node-name": "acc"}, file="cbw")
        vm.cmd("nbd-server-start", addr={"type": "unix", "data": {"path": nbd}})
        vm.cmd("block-export-add", type="nbd", id="snap", **{"node-name": "acc"})
        reads = 0
        while True:
            try:
                data = vmlib.read_all(nbd_uri(nbd, "acc"), SIZE)
            except Exception:
                if proc.poll() is not None or reads:
                    break       # the guest powered off while we read
                raise
            assert data == state_a, f"snapshot read {reads} differs from the frozen disk"
            reads += 1
            if proc.poll() is not None:
                break
        out = proc.communicate(timeout=300)[0]
        assert proc.returncode == 0, out[-3000:]
        assert reads >= 1, "never read the snapshot"
        r = subprocess.run([bp, f"dev={disk}", f"size={SIZE}", "seed=2", "mode=verify"],
                           capture_output=True, text=True)
        assert r.returncode == 0, "the guest's writes did not all reach the disk: " + r.stdout
        print(f"ok   {kind} guest-fleece ({reads} full snapshot reads while the guest wrote)")

        # Boot 2: a throttle node goes in under the raw node and comes out
        # again while the guest writes pattern C; nothing may be lost.
        if os.path.exists(qmp):
            os.unlink(qmp)
        proc = subprocess.Popen(
            [os.path.join(root, "tests", "guest", "run-guest-test.sh"), "--emulator", kind,
             "--smp", "2", "--timeout", "300", "--test", "blkpattern",
             "--args", f"dev=/dev/vda,size={SIZE},seed=3,mode=write", "--",
             "-object", "throttle-group,id=G,x-bps-write=8000000",
             "-blockdev", f"driver=file,node-name=f0,filename={disk}",
             "-blockdev", "driver=raw,node-name=disk0,file=f0",
             "-device", "virtio-blk-pci,drive=disk0,id=vd0",
             "-qmp", f"unix:{qmp},server=on,wait=off"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        vm = Attach(qmp, proc)
        vm.cmd("blockdev-add", driver="throttle", **{"node-name": "thr"}, file="f0",
               **{"throttle-group": "G"})
        moves = 0
        while proc.poll() is None and moves < 6:
            try:
                vm.cmd("blockdev-reopen", options=[{"driver": "raw", "node-name": "disk0",
                                                    "file": "f0" if moves % 2 else "thr"}])
            except (QmpError, OSError, EOFError):
                break
            moves += 1
            time.sleep(0.5)
        if moves % 2:
            try:
                vm.cmd("blockdev-reopen", options=[{"driver": "raw", "node-name": "disk0",
                                                    "file": "f0"}])
            except (QmpError, OSError, EOFError):
                pass
        out = proc.communicate(timeout=300)[0]
        assert proc.returncode == 0, out[-3000:]
        assert moves >= 1, "the guest finished before the filter went in"
        r = subprocess.run([bp, f"dev={disk}", f"size={SIZE}", "seed=3", "mode=verify"],
                           capture_output=True, text=True)
        assert r.returncode == 0, "writes lost across filter insertion/removal: " + r.stdout
        print(f"ok   {kind} guest-throttle-insert ({moves} moves while the guest wrote)")

        # Boot 3: blockdev-backup of the device's own node while the guest
        # overwrites it.  The guest's writes are throttled (8 s for the disk)
        # so the job overlaps them; once the guest is writing, the VM is
        # paused, the disk copied (the expected point in time), the job
        # started and the VM resumed.  The job's copy-before-write filter goes
        # above the node the device uses, so the guest's writes must pass
        # through it and the target must equal the paused copy.
        target = os.path.join(tmp, "backup.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", target, str(SIZE)], check=True)
        if os.path.exists(qmp):
            os.unlink(qmp)
        proc = subprocess.Popen(
            [os.path.join(root, "tests", "guest", "run-guest-test.sh"), "--emulator", kind,
             "--smp", "2", "--timeout", "300", "--test", "blkpattern",
             "--args", f"dev=/dev/vda,size={SIZE},seed=4,mode=write", "--",
             "-object", "throttle-group,id=G,x-bps-write=4000000",
             "-blockdev", f"driver=file,node-name=f0,filename={disk}",
             "-blockdev", "driver=throttle,node-name=thr,file=f0,throttle-group=G",
             "-blockdev", "driver=raw,node-name=disk0,file=thr",
             "-device", "virtio-blk-pci,drive=disk0,id=vd0",
             "-qmp", f"unix:{qmp},server=on,wait=off"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        vm = Attach(qmp, proc)
        # The guest has started writing once the disk's first bytes change.
        before = open(disk, "rb").read(1 << 16)
        deadline = time.time() + 240
        while open(disk, "rb").read(1 << 16) == before:
            assert proc.poll() is None and time.time() < deadline, "the guest never wrote"
            time.sleep(0.05)
        time.sleep(0.5)
        vm.cmd("stop")
        expected = open(disk, "rb").read()
        vm.cmd("blockdev-add", driver="file", **{"node-name": "bt-f"}, filename=target)
        vm.cmd("blockdev-add", driver="qcow2", **{"node-name": "bt"}, file="bt-f")
        vm.cmd("blockdev-backup", **{"job-id": "job0"}, device="disk0", target="bt",
               sync="full", speed=8 << 20)
        vm.cmd("cont")
        vm.event("BLOCK_JOB_COMPLETED", timeout=240)
        vm.cmd("blockdev-del", **{"node-name": "bt"})
        vm.cmd("blockdev-del", **{"node-name": "bt-f"})
        out = proc.communicate(timeout=300)[0]
        assert proc.returncode == 0, out[-3000:]
        assert expected != open(disk, "rb").read(), "the guest wrote nothing after the pause"
        got = os.path.join(tmp, "backup.raw")
        subprocess.run(["qemu-img", "convert", "-O", "raw", target, got], check=True)
        assert open(got, "rb").read() == expected, "backup is not the disk at the job's start"
        r = subprocess.run([bp, f"dev={disk}", f"size={SIZE}", "seed=4", "mode=verify"],
                           capture_output=True, text=True)
        assert r.returncode == 0, "guest writes during the backup were lost: " + r.stdout
        print(f"ok   {kind} guest-backup-job (point-in-time copy while the guest wrote)")
    finally:
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    try:
        main()
    except (AssertionError, QmpError, RuntimeError) as e:
        print(f"FAIL guest-fleece: {e}")
        sys.exit(1)
