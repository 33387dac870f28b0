# A throw-away sshd on 127.0.0.1 for the SFTP tests: host and user keys,
# config and port in $T (which the caller creates and removes).  Source it,
# then: sshd_prepare; sshd_start; ... sshd_stop (also call sshd_stop from the
# caller's EXIT trap).  After sshd_prepare, $port is set and $T/ssh holds the
# user key (QUAIL_SSH_DIR).
sshd_pid=

sshd_prepare() {
    unset SSH_AUTH_SOCK             # only the throw-away key may be used
    mkdir -p /run/sshd              # privilege separation directory sshd insists on
    chmod 755 /run/sshd
    mkdir -p "$T/ssh" "$T/remote"
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
}

# Returns non-zero if sshd does not accept connections within 10 s.
sshd_start() {
    /usr/sbin/sshd -D -e -f "$T/sshd_config" 2>>"$T/sshd.log" &
    sshd_pid=$!
    for _ in $(seq 100); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

sshd_stop() {
    if [ -n "$sshd_pid" ]; then
        kill "$sshd_pid" 2>/dev/null || true
        wait "$sshd_pid" 2>/dev/null || true
        sshd_pid=
    fi
}
