#!/usr/bin/env bash
# quail backup run into a repository over SFTP (a throw-away sshd on
# 127.0.0.1): full and incremental backups of a running QEMU restore to the
# expected content, exactly as with a local repository.
. "$(dirname "$0")/qemu_lib.sh"
sshd_pid=
trap 'if [ -n "$sshd_pid" ]; then kill "$sshd_pid" 2>/dev/null || true; wait "$sshd_pid" 2>/dev/null || true; fi; cleanup' EXIT
T=$(cd "$T" && pwd -P)
unset SSH_AUTH_SOCK
mkdir -p /run/sshd; chmod 755 /run/sshd
mkdir "$T/ssh" "$T/remote"
ssh-keygen -q -t ed25519 -N '' -f "$T/hostkey"
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/id_ed25519"
cp "$T/ssh/id_ed25519.pub" "$T/authorized_keys"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$T/sshd_config" <<CFG
Port $port
ListenAddress 127.0.0.1
HostKey $T/hostkey
PidFile $T/sshd.pid
AuthorizedKeysFile $T/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
Subsystem sftp internal-sftp
LogLevel ERROR
CFG
/usr/sbin/sshd -D -e -f "$T/sshd_config" 2>>"$T/sshd.log" &
sshd_pid=$!
for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null && break
    sleep 0.1
done
export QUAIL_SSH_DIR=$T/ssh QUAIL_SSH_ACCEPT_NEW=1
U="ssh://$(id -un)@127.0.0.1:$port$T/remote/repo"

new_disk d0 qcow2 32M; new_disk d1 qcow2 16M
start_qemu d0:qcow2 d1:qcow2
"$QUAIL" backup init "$U" >/dev/null || fail "init over ssh"
vwrite d0 0x31 0 1M; vwrite d1 0x32 2M 256k
snap_expect d0 b1; snap_expect d1 b1
"$QUAIL" backup run --qmp "$T/qmp.sock" --json "$U" >"$T/out.json" || fail "full backup over ssh"
grep -q '"type":"full"' "$T/out.json" || fail "not full"
vwrite d0 0x33 5M 64k
snap_expect d0 b2; snap_expect d1 b2
"$QUAIL" backup run --qmp "$T/qmp.sock" --json "$U" >"$T/out.json" || fail "incremental over ssh"
grep -q '"type":"incremental"' "$T/out.json" || fail "not incremental: $(cat "$T/out.json")"
grep -q '"bytes_read":262144' "$T/out.json" || fail "incremental read more than the dirty chunk"
# The remote directory is an ordinary repository: restore from it locally too.
n=0
for id in $("$QUAIL" backup list "$U" --json | grep -o '"id":"[^"]*"' | cut -d'"' -f4); do
    n=$((n + 1))
    for d in d0 d1; do
        "$QUAIL" backup restore "$U" "$id" --disk $d --to "$T/r.raw" >/dev/null || fail "restore $id over ssh"
        cmp "$T/r.raw" "$T/$d.b$n.expect" || fail "backup $n disk $d over ssh differs"
        "$QUAIL" backup restore "$T/remote/repo" "$id" --disk $d --to "$T/r.raw" >/dev/null || fail "local restore"
        cmp "$T/r.raw" "$T/$d.b$n.expect" || fail "backup $n disk $d (local read) differs"
    done
done
[ "$n" = 2 ] || fail "$n backups listed"
"$QUAIL" backup verify "$U" >/dev/null || fail "verify over ssh"
ok "full and incremental backups over SFTP restore correctly"
