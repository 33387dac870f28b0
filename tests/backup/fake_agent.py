#!/usr/bin/env python3
"""A stand-in qemu-guest-agent on a unix socket for the backup tests.

At guest-fsfreeze-freeze it writes a marker into the VM's disk (as a guest
flushing its filesystems would) and at -thaw another one, through the QMP
socket given, so the test can see which side of the backup instant each is.
Logs every command it gets."""
import json, os, socket, subprocess, sys

sock_path, qmp_sock, quail, log_path = sys.argv[1:5]

def hmp(line):
    subprocess.run([quail, "backup", "qmp", qmp_sock, "--hmp", line], check=True,
                   stdout=subprocess.DEVNULL)

srv = socket.socket(socket.AF_UNIX)
srv.bind(sock_path)
srv.listen(4)
with open(log_path, "a") as log:
    while True:
        conn, _ = srv.accept()
        f = conn.makefile("rw")
        for line in f:
            req = json.loads(line)
            cmd = req.get("execute")
            log.write(cmd + "\n"); log.flush()
            if cmd == "guest-sync":
                ret = req["arguments"]["id"]
            elif cmd == "guest-fsfreeze-freeze":
                hmp('qemu-io d0 "write -P 0xf1 8M 64k"')
                ret = 1
            elif cmd == "guest-fsfreeze-thaw":
                hmp('qemu-io d0 "write -P 0xf2 9M 64k"')
                ret = 1
            else:
                ret = {}
            rsp = {"return": ret}
            if "id" in req:
                rsp["id"] = req["id"]
            f.write(json.dumps(rsp) + "\n"); f.flush()
        conn.close()
