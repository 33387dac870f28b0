"""Drives quail or qemu-system-riscv64 over QMP for the block job tests.

Every scenario is written once against this class and run on both emulators
with the same QMP commands; host-side I/O goes through the emulator's own NBD
export (qemu-io / nbdinfo as clients), so no emulator-specific command is used.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


class QmpError(Exception):
    def __init__(self, cmd, err):
        super().__init__(f"{cmd}: {err.get('class')}: {err.get('desc')}")
        self.cls = err.get("class")
        self.desc = err.get("desc")


class VM:
    def __init__(self, kind, args, tmp):
        self.kind = kind
        self.tmp = tmp
        self.sock = os.path.join(tmp, "qmp.sock")
        common = ["-M", "virt", "-m", "256M", "-nographic",
                  "-qmp", f"unix:{self.sock},server=on,wait=off"] + args
        if kind == "qemu":
            cmd = ["qemu-system-riscv64"] + common
        else:
            cmd = [os.environ.get("QUAIL", "build/quail"), "run"] + common
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(tmp, "emu.log"), "wb"))
        deadline = time.time() + 20
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(self.sock)
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"{kind} did not start: " + open(os.path.join(tmp, "emu.log")).read())
                time.sleep(0.1)
        self.s.settimeout(60)
        self.buf = b""
        self.events = []
        self.read_msg()
        self.cmd("qmp_capabilities")

    def read_msg(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, _cmd, **args):
        """Runs a command; raises QmpError on an error reply."""
        msg = {"execute": _cmd}
        if args:
            msg["arguments"] = args
        self.s.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            m = self.read_msg()
            if "event" in m:
                self.events.append(m)
                continue
            if "error" in m:
                raise QmpError(_cmd, m["error"])
            return m["return"]

    def error(self, _cmd, **args):
        """Runs a command that must fail; returns (class, desc)."""
        try:
            self.cmd(_cmd, **args)
        except QmpError as e:
            return e.cls, e.desc
        raise AssertionError(f"{_cmd} {args} unexpectedly succeeded")

    def event(self, name, match=None, timeout=60):
        deadline = time.time() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name and (match is None or match(e.get("data", {}))):
                    return self.events.pop(i)
            if time.time() > deadline:
                raise TimeoutError(f"no {name} event; have {[e['event'] for e in self.events]}")
            self.s.settimeout(max(0.1, deadline - time.time()))
            try:
                self.events.append(self.read_msg())
            except socket.timeout:
                pass

    def node(self, name):
        for n in self.cmd("query-named-block-nodes", flat=True):
            if n["node-name"] == name:
                return n
        return None

    def bitmaps(self, node):
        # QEMU also lists its jobs' anonymous bitmaps; only named ones matter here.
        return {b["name"]: b for b in self.node(node).get("dirty-bitmaps", []) if "name" in b}

    def close(self):
        try:
            self.cmd("quit")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        # Under the sanitizer build, any report fails the scenario.
        log = open(os.path.join(self.tmp, "emu.log"), errors="replace").read()
        for bad in ("runtime error:", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer"):
            if bad in log:
                raise AssertionError(f"{self.kind}: {bad}\n{log[-3000:]}")


def nbd_uri(sock, name):
    return f"nbd+unix:///{name}?socket={sock}"


def qemu_io(uri, *cmds, read_only=False):
    argv = ["qemu-io", "-f", "raw"] + (["-r"] if read_only else [])
    for c in cmds:
        argv += ["-c", c]
    r = subprocess.run(argv + [uri], capture_output=True, text=True)
    if r.returncode or "fail" in r.stdout.lower() or "error" in r.stdout.lower():
        raise AssertionError(f"qemu-io {cmds}: {r.stdout}{r.stderr}")
    return r.stdout


def nbd_map(uri, context):
    """Extents of a metadata context as [(offset, length, flags)] via nbdinfo."""
    r = subprocess.run(["nbdinfo", "--json", f"--map={context}", uri], capture_output=True,
                       text=True, check=True)
    return [(e["offset"], e["length"], e["type"]) for e in json.loads(r.stdout)]


def read_all(uri, size):
    out = os.path.join(tempfile.mkdtemp(), "img.raw")
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "raw", uri, out], check=True)
    data = open(out, "rb").read()
    shutil.rmtree(os.path.dirname(out))
    assert len(data) == size, (len(data), size)
    return data


def run_main(scenarios):
    """Usage: prog --emulator quail|qemu [scenario...]"""
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--emulator", choices=["quail", "qemu"], required=True)
    ap.add_argument("only", nargs="*")
    a = ap.parse_args()
    failed = 0
    for name, fn in scenarios:
        if a.only and name not in a.only:
            continue
        tmp = tempfile.mkdtemp(prefix="bjobs-")
        try:
            fn(a.emulator, tmp)
            print(f"ok   {a.emulator} {name}")
        except Exception as e:  # report and go on to the next scenario
            import traceback
            traceback.print_exc()
            log = os.path.join(tmp, "emu.log")
            if os.path.exists(log):
                sys.stdout.write(open(log, errors="replace").read()[-2000:])
            print(f"FAIL {a.emulator} {name}: {e}")
            failed += 1
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if failed else 0)
