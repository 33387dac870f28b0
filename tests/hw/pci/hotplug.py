#!/usr/bin/env python3
"""PCIe hot-plug with a running Linux guest (issue 6, acceptance 2 and 3).

Boots the test guest to its shell with three root ports (rp1 holding the
bridge br1, rp2 and rp3 empty) and a QMP socket, then:
  pciehp: device_add virtio-blk-pci into root port rp2, wait for the guest to
    bind it, run the pattern test on it, device_del it and wait for
    DEVICE_DELETED and for the disk to vanish from the guest;
  SHPC: device_add virtio-blk-pci into slot 1 of the cold-plugged bridge
    br1, pattern test, device_del with DEVICE_DELETED, and again;
  bridge: device_add pcie-pci-bridge into the empty root port rp3, wait for
    shpchp, device_add virtio-blk-pci into its slot 1, pattern test, then
    device_del the disk and the bridge (reverse order) with DEVICE_DELETED
    for each.
Finally the guest powers off and the emulator must exit 0 with nothing on
stderr from a sanitizer.  The same steps run under QEMU and quail.

  hotplug.py --emulator qemu|quail
"""
import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))


def die(msg):
    print('hotplug: FAIL: ' + msg, flush=True)
    sys.exit(1)


class Guest:
    def __init__(self, cmd, log_path):
        self.log = open(log_path, 'wb')
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.buf = b''
        self.err = b''

    def pump(self, timeout):
        fds = [f for f in (self.p.stdout, self.p.stderr) if f]
        r, _, _ = select.select(fds, [], [], timeout)
        for f in r:
            data = os.read(f.fileno(), 65536)
            if f is self.p.stdout:
                self.buf += data
                self.log.write(data)
                self.log.flush()
            else:
                self.err += data
                sys.stderr.buffer.write(data)
                sys.stderr.flush()

    def wait_for(self, pattern, timeout, start=0):
        deadline = time.time() + timeout
        rx = re.compile(pattern.encode())
        while time.time() < deadline:
            m = rx.search(self.buf, start)
            if m:
                return m
            if self.p.poll() is not None:
                self.pump(0)
                die('emulator exited (%s) waiting for %r' % (self.p.returncode, pattern))
            self.pump(0.2)
        die('timed out waiting for %r' % pattern)

    def run(self, line, timeout=60):
        """Types a shell command and returns its output (up to the next prompt)."""
        start = len(self.buf)
        self.p.stdin.write(line.encode() + b'\n')
        self.p.stdin.flush()
        m = self.wait_for(r'quail# ', timeout, start + len(line))
        return self.buf[start:m.start()].decode(errors='replace').replace('\r', '')


class Qmp:
    def __init__(self, path, timeout=30):
        deadline = time.time() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                if time.time() > deadline:
                    die('cannot connect to QMP at ' + path)
                time.sleep(0.2)
        self.rbuf = b''
        self.events = []
        self.read()         # greeting
        self.cmd('qmp_capabilities')

    def read(self, timeout=None):
        """Next JSON message, or None when timeout (seconds) passes first."""
        deadline = None if timeout is None else time.time() + timeout
        while b'\n' not in self.rbuf:
            left = None if deadline is None else max(0, deadline - time.time())
            r, _, _ = select.select([self.s], [], [], left)
            if not r:
                return None
            data = self.s.recv(65536)
            if not data:
                die('QMP connection closed')
            self.rbuf += data
        line, self.rbuf = self.rbuf.split(b'\n', 1)
        return json.loads(line)

    def cmd(self, name, **args):
        req = {'execute': name}
        if args:
            req['arguments'] = args
        self.s.sendall(json.dumps(req).encode() + b'\n')
        while True:
            msg = self.read()
            if 'event' in msg:
                self.events.append(msg)
                continue
            return msg

    def check(self, name, **args):
        r = self.cmd(name, **args)
        if 'return' not in r:
            die('%s %s: %s' % (name, args, r))
        return r['return']

    def wait_deleted(self, dev_id, timeout, guest):
        deadline = time.time() + timeout
        while time.time() < deadline:
            guest.pump(0)
            for e in self.events:
                if e['event'] == 'DEVICE_DELETED' and e.get('data', {}).get('device') == dev_id:
                    return e
            msg = self.read(0.2)
            if msg and 'event' in msg:
                self.events.append(msg)
        die('no DEVICE_DELETED for %s within %ds' % (dev_id, timeout))


def poll_guest(g, cmd, pattern, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = g.run(cmd)
        if re.search(pattern, out, re.M):
            return out
        time.sleep(1)
    die('%s: %r never matched in the output of %r; last output:\n%s' % (what, pattern, cmd, out))


def pattern_test(g, seed):
    out = g.run('blkpattern dev=/dev/vda size=4M offset=1M seed=%d mode=both' % seed, 120)
    if 'verified 4194304 bytes' not in out:
        die('pattern test failed:\n' + out)
    # The check can fail: a wrong seed must not verify.
    out = g.run('blkpattern dev=/dev/vda size=4K offset=1M seed=%d mode=verify' % (seed + 1), 60)
    if 'verified' in out:
        die('pattern test with a wrong seed passed:\n' + out)


def main():
    if len(sys.argv) != 3 or sys.argv[1] != '--emulator' or sys.argv[2] not in ('qemu', 'quail'):
        print(__doc__, file=sys.stderr)
        return 2
    emu = sys.argv[2]
    if emu == 'qemu':
        base = [os.environ.get('QEMU_SYSTEM', 'qemu-system-riscv64')]
    else:
        base = [os.environ.get('QUAIL', os.path.join(ROOT, 'build', 'quail')), 'run']
    guest = subprocess.run([os.path.join(ROOT, 'guest', 'build.sh'), '--print'],
                           capture_output=True, text=True, check=True).stdout
    env = dict(l.split('=', 1) for l in guest.split())
    tmp = tempfile.mkdtemp(prefix='quail-hotplug.')
    g = None
    try:
        imgs = []
        for n in ('1', '2'):
            path = os.path.join(tmp, 'disk%s.img' % n)
            with open(path, 'wb') as f:
                f.truncate(32 << 20)
            imgs.append(path)
        sock = os.path.join(tmp, 'qmp.sock')
        # pci=hpbussize=4 leaves bus numbers below each hot-plug port for a
        # bridge (and its bus) plugged in later.
        cmd = base + ['-M', 'virt', '-m', '512M', '-smp', '2', '-nographic', '-bios', 'default',
                      '-kernel', env['KERNEL'], '-initrd', env['INITRD'],
                      '-append', 'console=ttyS0 pci=hpbussize=4,hpmemsize=8M', '-no-reboot',
                      '-qmp', 'unix:%s,server=on,wait=off' % sock,
                      '-device', 'pcie-root-port,id=rp1,chassis=1,slot=1',
                      '-device', 'pcie-root-port,id=rp2,chassis=1,slot=2',
                      '-device', 'pcie-root-port,id=rp3,chassis=1,slot=3',
                      '-device', 'pcie-pci-bridge,id=br1,bus=rp1',
                      '-drive', 'file=%s,format=raw,if=none,id=d1' % imgs[0],
                      '-drive', 'file=%s,format=raw,if=none,id=d2' % imgs[1]]
        print('hotplug: ' + ' '.join(cmd), flush=True)
        g = Guest(cmd, os.path.join(tmp, 'console.log'))
        q = Qmp(sock)
        g.wait_for(r'quail# ', 240)
        if '/dev/vda' in g.run('ls /dev'):
            die('a disk exists before any hot-plug')

        # --- pciehp: a disk straight into root port rp2
        q.check('device_add', driver='virtio-blk-pci', id='blk2', drive='d2', bus='rp2')
        poll_guest(g, 'ls /dev', r'^vda$', 60, 'pciehp plug')
        out = g.run('lspci')
        if not re.search(r'^  \S+ 1af4:1042 class 01\S+ parent \S+ driver virtio-pci$', out, re.M) and \
           not re.search(r'^  \S+ 1af4:1001 class 01\S+ parent \S+ driver virtio-pci$', out, re.M):
            die('hot-plugged disk not below a root port:\n' + out)
        pattern_test(g, 21)
        q.check('device_del', id='blk2')
        q.wait_deleted('blk2', 60, g)
        poll_guest(g, 'ls /dev', r'\A(?![\s\S]*^vda$)', 30, 'pciehp unplug')
        print('hotplug: pciehp plug, pattern test, unplug: ok', flush=True)

        # --- SHPC: a disk into slot 1 of the cold-plugged bridge br1 (on rp1)
        q.check('device_add', driver='virtio-blk-pci', id='blk1', drive='d1', bus='br1', addr='1')
        poll_guest(g, 'ls /dev', r'^vda$', 60, 'SHPC plug')
        out = g.run('lspci')
        if not re.search(r'^    \S+:01\.0 1af4:10(42|01) class 01\S+ parent \S+ driver virtio-pci$',
                         out, re.M):
            die('disk not in slot 1 behind the bridge:\n' + out)
        pattern_test(g, 31)
        q.check('device_del', id='blk1')
        q.wait_deleted('blk1', 60, g)
        poll_guest(g, 'ls /dev', r'\A(?![\s\S]*^vda$)', 30, 'SHPC unplug')
        # The same slot takes a disk again after the round trip.
        q.check('device_add', driver='virtio-blk-pci', id='blk3', drive='d1', bus='br1', addr='1')
        poll_guest(g, 'ls /dev', r'^vda$', 60, 'SHPC replug')
        pattern_test(g, 41)
        q.check('device_del', id='blk3')
        q.wait_deleted('blk3', 60, g)
        print('hotplug: SHPC plug, pattern test, unplug, replug: ok', flush=True)

        # --- a bridge hot-plugged into the empty root port rp3, a disk
        # hot-plugged behind it through its SHPC, then both removed in
        # reverse order
        q.check('device_add', driver='pcie-pci-bridge', id='br2', bus='rp3')
        out = poll_guest(g, 'lspci',
                         r'^  \S+:00\.0 1b36:000e class 060400 parent 0000:00:03\.0 driver shpchp$',
                         60, 'bridge plug')
        br2 = re.search(r'^  (\S+) 1b36:000e class 060400 parent 0000:00:03\.0', out, re.M).group(1)
        q.check('device_add', driver='virtio-blk-pci', id='blk4', drive='d1', bus='br2', addr='1')
        poll_guest(g, 'ls /dev', r'^vda$', 60, 'SHPC plug behind the hot-plugged bridge')
        out = g.run('lspci')
        if not re.search(r'^    \S+:01\.0 1af4:10(42|01) class 01\S+ parent %s driver virtio-pci$'
                         % re.escape(br2), out, re.M):
            die('disk not in slot 1 behind the hot-plugged bridge:\n' + out)
        pattern_test(g, 51)
        q.check('device_del', id='blk4')
        q.wait_deleted('blk4', 60, g)
        poll_guest(g, 'ls /dev', r'\A(?![\s\S]*^vda$)', 30, 'SHPC unplug behind the hot-plugged bridge')
        q.check('device_del', id='br2')
        q.wait_deleted('br2', 60, g)
        poll_guest(g, 'lspci', r'\A(?![\s\S]*parent 0000:00:03\.0)', 30, 'bridge unplug')
        print('hotplug: bridge into a root port, disk behind it via SHPC, pattern test, '
              'unplug both: ok', flush=True)

        g.p.stdin.write(b'poweroff\n')
        g.p.stdin.flush()
        deadline = time.time() + 60
        while g.p.poll() is None and time.time() < deadline:
            g.pump(0.2)
        if g.p.poll() is None:
            die('emulator did not exit after poweroff')
        g.pump(0)
        while True:
            r, _, _ = select.select([g.p.stderr], [], [], 0)
            if not r or not os.read(g.p.stderr.fileno(), 65536):
                break
        if g.p.returncode != 0:
            die('emulator exit status %d' % g.p.returncode)
        if b'Sanitizer' in g.err or b'runtime error' in g.err:
            die('sanitizer report on stderr')
        print('hotplug: PASS on ' + emu, flush=True)
        return 0
    finally:
        if g and g.p.poll() is None:
            g.p.kill()
            g.p.wait()
        if os.environ.get('KEEP_LOG') == '1':
            print('hotplug: log kept in ' + tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
