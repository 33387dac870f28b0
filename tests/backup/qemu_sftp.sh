#!/usr/bin/env bash
# quail backup run into a repository over SFTP (a throw-away sshd on
# 127.0.0.1): full and incremental backups of a running QEMU restore to the
# expected content, exactly as with a local repository.
. "$(dirname "$0")/qemu_lib.sh"
. "$(dirname "$0")/sshd_lib.sh"
trap 'sshd_stop; cleanup' EXIT
T=$(cd "$T" && pwd -P)
sshd_prepare
sshd_start || { cat "$T/sshd.log"; echo "sshd did not start"; exit 1; }
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
