#!/usr/bin/env python3
"""The -nographic console on a real terminal: quail puts the tty in raw mode,
typed lines reach the guest shell, Ctrl-A h prints the escape help, Ctrl-A x
quits with status 0 like QEMU, and the terminal settings are restored."""
import os
import pty
import select
import subprocess
import sys
import termios
import time

quail = os.environ["QUAIL"]
src = os.environ["QUAIL_SRC"]
env = dict(l.split("=", 1) for l in subprocess.run(
    [src + "/guest/build.sh", "--print"], check=True, capture_output=True,
    text=True).stdout.split())

master, slave = pty.openpty()
before = termios.tcgetattr(master)
proc = subprocess.Popen(
    [quail, "run", "-nographic", "-smp", "2", "-kernel", env["KERNEL"],
     "-initrd", env["INITRD"], "-append", "console=ttyS0"],
    stdin=slave, stdout=slave, stderr=subprocess.PIPE, close_fds=True)
os.close(slave)
buf = b""


def read_until(token, seconds):
    global buf
    end = time.time() + seconds
    while token not in buf and time.time() < end:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                buf += os.read(master, 4096)
            except OSError:
                break
    return token in buf


def fail(msg):
    proc.kill()
    print("FAIL:", msg)
    print(buf[-2000:].decode(errors="replace"))
    sys.exit(1)


try:
    if not read_until(b"quail# ", 300):
        fail("no shell prompt")
    raw = termios.tcgetattr(master)
    if raw[3] & termios.ICANON or raw[3] & termios.ECHO:
        fail("terminal not in raw mode while running")
    # the output differs from the typed text, so the guest's echo alone
    # cannot satisfy the check
    os.write(master, b"cat /proc/version\r")
    if not read_until(b"Linux version", 60):
        fail("typed command did not run in the guest")
    os.write(master, b"\x01h")
    if not read_until(b"C-a x", 30):
        fail("no escape help")
    os.write(master, b"\x01x")
    if not read_until(b"QEMU: Terminated", 30):
        fail("no termination message")
    rc = proc.wait(timeout=60)
    if rc != 0:
        fail("exit status %d" % rc)
    after = termios.tcgetattr(master)
    if after != before:
        fail("terminal settings not restored")
    print("ok: raw console, input, Ctrl-A h, Ctrl-A x (exit 0), terminal restored")
finally:
    if proc.poll() is None:
        proc.kill()
