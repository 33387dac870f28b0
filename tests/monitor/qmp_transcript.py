#!/usr/bin/env python3
"""Runs committed QMP conversations against an emulator and checks the replies.

The same transcripts run against quail and against Debian's
qemu-system-riscv64, so quail's QMP is held to QEMU's real answers rather than
to our reading of the schema.

Transcript format (one JSON value per line, '#' comments):
  {"send": {...}}            send a command
  {"reply": {...}}           the next reply must match
  {"event": "NAME", "data": {...}}   an event must arrive (data optional)
  {"raw": "text"}            send bytes as they are (malformed input)
  {"expect-exit": true}      the emulator must exit (after quit)
  {"setup": [argv...]}       (before any send) run a host command first
  {"args": [...]}            (before any send) extra emulator arguments
"{tmp}" in setup and args is the test's temporary directory.
Matching: objects must have exactly the expected keys; the string "<any>"
matches any value; {"<contains>": [..]} matches a list holding those items.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

ANY = "<any>"


def matches(exp, got):
    if exp == ANY:
        return True
    if isinstance(exp, dict) and list(exp) == ["<contains>"]:
        return isinstance(got, list) and all(any(matches(e, g) for g in got) for e in exp["<contains>"])
    if isinstance(exp, dict):
        return isinstance(got, dict) and set(exp) == set(got) and all(matches(exp[k], got[k]) for k in exp)
    if isinstance(exp, list):
        return isinstance(got, list) and len(exp) == len(got) and all(matches(a, b) for a, b in zip(exp, got))
    return exp == got


class Conn:
    def __init__(self, path, timeout=20):
        deadline = time.time() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        self.s.settimeout(timeout)
        self.buf = b""
        self.events = []

    def read_msg(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def reply(self):
        while True:
            m = self.read_msg()
            if "event" in m:
                self.events.append(m)
            else:
                return m

    def event(self, name):
        for i, e in enumerate(self.events):
            if e["event"] == name:
                return self.events.pop(i)
        while True:
            m = self.read_msg()
            if m.get("event") == name:
                return m
            if "event" in m:
                self.events.append(m)


def emulator_cmd(kind, sock, extra):
    common = ["-M", "virt", "-m", "256M", "-nographic", "-qmp", f"unix:{sock},server=on,wait=off"] + extra
    if kind == "qemu":
        return ["qemu-system-riscv64"] + common
    return [os.environ.get("QUAIL", "build/quail"), "run"] + common


def subst(v, sub):
    if isinstance(v, str):
        return sub(v)
    if isinstance(v, list):
        return [subst(x, sub) for x in v]
    if isinstance(v, dict):
        return {k: subst(x, sub) for k, x in v.items()}
    return v


def run_transcript(kind, path):
    steps = []
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            steps.append((n, json.loads(line)))
    with tempfile.TemporaryDirectory() as d:
        sub = lambda v: v.replace("{tmp}", d)
        extra = []
        for n, step in steps:
            if "setup" in step:
                subprocess.run([sub(a) for a in step["setup"]], check=True)
            if "args" in step:
                extra += [sub(a) for a in step["args"]]
        sock = os.path.join(d, "qmp.sock")
        proc = subprocess.Popen(emulator_cmd(kind, sock, extra), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            c = Conn(sock)
            greeting = c.read_msg()
            if not matches({"QMP": {"version": ANY, "capabilities": ANY}}, greeting):
                return f"bad greeting {greeting}"
            for n, step in steps:
                where = f"{os.path.basename(path)}:{n}"
                if "send" in step:
                    c.s.sendall(json.dumps(subst(step["send"], sub)).encode() + b"\n")
                elif "raw" in step:
                    c.s.sendall(step["raw"].encode())
                elif "reply" in step:
                    got = c.reply()
                    if not matches(step["reply"], got):
                        return f"{where}: expected {step['reply']}, got {got}"
                elif "event" in step:
                    got = c.event(step["event"])
                    if "data" in step and not matches(step["data"], got.get("data")):
                        return f"{where}: event {step['event']} data {got.get('data')}"
                elif "expect-exit" in step:
                    try:
                        proc.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        return f"{where}: emulator did not exit"
            return None
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--emulator", choices=["quail", "qemu"], required=True)
    ap.add_argument("transcripts", nargs="+")
    args = ap.parse_args()
    failed = 0
    for t in args.transcripts:
        err = run_transcript(args.emulator, t)
        print(f"{'FAIL' if err else 'ok  '} {args.emulator} {os.path.basename(t)}" + (f": {err}" if err else ""))
        failed += bool(err)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
