#!/usr/bin/env bash
# The SFTP backend against a real sshd on 127.0.0.1 (throw-away host and user
# keys in a temp dir): host key checking, init, backups through the writer
# API, restore, verify, prune, the remote lock, and the same on-disk format as
# a local repository.  Usage: repo_sftp.sh MKBACKUP
set -euo pipefail
MK=$1
Q=${QUAIL:?}
T=$(mktemp -d /tmp/quail-repo-sftp.XXXXXX)
T=$(cd "$T" && pwd -P)
. "$(dirname "$0")/sshd_lib.sh"
trap 'sshd_stop; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$T/sshd.log" ] && cat "$T/sshd.log" >&2; exit 1; }
sshd_prepare
sshd_start || fail "sshd did not start"
export QUAIL_SSH_DIR=$T/ssh
U="ssh://$(id -un)@127.0.0.1:$port$T/remote/repo"

# Unknown host: refused unless new hosts are accepted; then remembered.
"$Q" backup init "$U" 2>"$T/err" && fail "unknown host key accepted"
grep -q "not in known_hosts" "$T/err" || fail "unknown host message: $(cat "$T/err")"
[ -e "$T/remote/repo" ] && fail "refused init created something"
"$Q" backup init "$U" --chunk-size 64K --accept-new-host | grep -q "chunk size 65536" || fail "init over ssh"
[ -s "$T/ssh/known_hosts" ] || fail "known_hosts not written"

truncate -s 1M "$T/disk.img"
dd if=/dev/urandom of="$T/disk.img" bs=65536 count=3 conv=notrunc status=none
dd if=/dev/urandom of="$T/disk.img" bs=65536 seek=10 count=1 conv=notrunc status=none
cp "$T/disk.img" "$T/disk1.img"
id1=$("$MK" "$U" "$T/disk.img" --time 1700000000)
dd if=/dev/urandom of="$T/disk.img" bs=512 seek=1 count=1 conv=notrunc status=none
id2=$("$MK" "$U" "$T/disk.img" --parent "$id1" --time 1700000100)

"$Q" backup restore "$U" "$id1" --to "$T/out1.img" >/dev/null
cmp "$T/disk1.img" "$T/out1.img" || fail "ssh restore of full backup differs"
"$Q" backup restore "$U" "$id2" --to "$T/out2.img" >/dev/null
cmp "$T/disk.img" "$T/out2.img" || fail "ssh restore of incremental differs"
"$Q" backup list "$U" | grep -q "$id2.*incremental" || fail "ssh list"
"$Q" backup verify "$U" | grep -q "checked 5 chunk(s): 0 damaged" || fail "ssh verify"

# Same format: the directory behind the SFTP server is a local repository too.
"$Q" backup verify "$T/remote/repo" >/dev/null || fail "local verify of the ssh-written repository"
"$Q" backup restore "$T/remote/repo" "$id2" --to "$T/out3.img" >/dev/null
cmp "$T/disk.img" "$T/out3.img" || fail "local restore of the ssh-written repository differs"
find "$T/remote/repo" -name '*.tmp.*' | grep -q . && fail "temp files left behind"

# A lock held by a live process on this host keeps writers out.
echo "pid=$$ host=$(hostname) time=$(date +%s) what=write" > "$T/remote/repo/lock"
"$MK" "$U" "$T/disk.img" 2>"$T/err" && fail "writer ignored the lock"
grep -q "locked by pid=$$" "$T/err" || fail "lock message: $(cat "$T/err")"
# ... one of a dead process is broken.
echo "pid=2147483000 host=$(hostname) time=1 what=write" > "$T/remote/repo/lock"
"$Q" backup prune "$U" --keep-last 1 | grep -q "removed 1 of 2" || fail "ssh prune"
[ -e "$T/remote/repo/lock" ] && fail "lock left after prune"
"$Q" backup restore "$U" "$id2" --to "$T/out4.img" >/dev/null
cmp "$T/disk.img" "$T/out4.img" || fail "restore after ssh prune differs"

# A changed host key is refused.
sshd_stop
rm -f "$T/hostkey" "$T/hostkey.pub"
ssh-keygen -q -t ed25519 -N '' -f "$T/hostkey"
sshd_start || fail "sshd did not start"
"$Q" backup list "$U" --accept-new-host 2>"$T/err" && fail "changed host key accepted"
grep -q "CHANGED" "$T/err" || fail "changed host message: $(cat "$T/err")"
echo "repo sftp: ok"
