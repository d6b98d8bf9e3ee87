#!/usr/bin/env bash
# A fleet of real OpenSSH servers on this machine, for the demo and the tests.
#
#   sshd-fleet.sh setup                 once, as root: install openssh-server and sudo,
#                                       create the fleet user with a random password
#   sshd-fleet.sh start DIR ADDR:PORT…  one sshd per endpoint (each with its own host
#                                       key), state and keys under DIR
#   sshd-fleet.sh stop DIR              stop them
#
# Each sshd sets PUSHINST_FIXTURE_HOST (host1, host2, …) and PUSHINST_FIXTURE_DIR (a
# directory standing in for that host's file system) in the sessions it starts, and
# sudo keeps both, so one installer script can behave like several machines.
# Under sudo, `shutdown` is a stand-in that writes its arguments to
# $PUSHINST_FIXTURE_DIR/shutdown instead of rebooting this machine.
# Each sshd logs logins to DIR/hostN/sshd.log, so tests can count them.
# The servers listen on loopback only and admit only the fleet user.
set -euo pipefail

FLEET_USER=pushinst-fleet
FLEET_HOME=/var/lib/pushinst-fleet
PASSWORD_FILE=$FLEET_HOME.password

die() { echo "sshd-fleet: $*" >&2; exit 1; }

setup() {
    [ "$(id -u)" = 0 ] || die "setup must run as root (try: sudo $0 setup)"
    if ! [ -x /usr/sbin/sshd ] || ! command -v sudo >/dev/null; then
        echo "sshd-fleet: installing openssh-server and sudo" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server sudo >/dev/null \
            || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server sudo >/dev/null; }
    fi
    mkdir -p /run/sshd
    if ! id "$FLEET_USER" >/dev/null 2>&1; then
        useradd --system --create-home --home-dir "$FLEET_HOME" --shell /bin/sh "$FLEET_USER"
    fi
    if ! [ -s "$PASSWORD_FILE" ]; then
        (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$PASSWORD_FILE")
    fi
    echo "$FLEET_USER:$(cat "$PASSWORD_FILE")" | chpasswd
    # The fleet stands in for many machines on one: a reboot request must not reboot it.
    mkdir -p "$FLEET_HOME/bin"
    cat > "$FLEET_HOME/bin/shutdown" <<'FAKE'
#!/bin/sh
# pushinst fleet stand-in: record the request, reboot nothing.
echo "$*" >> "${PUSHINST_FIXTURE_DIR:-/nonexistent}/shutdown" && echo "Reboot scheduled (fleet stand-in)"
FAKE
    chmod 0755 "$FLEET_HOME/bin" "$FLEET_HOME/bin/shutdown"
    chown root:root "$FLEET_HOME/bin" "$FLEET_HOME/bin/shutdown"
    cat > /etc/sudoers.d/pushinst-fleet <<SUDO
Defaults:$FLEET_USER lecture=never, env_keep += "PUSHINST_FIXTURE_HOST PUSHINST_FIXTURE_DIR"
Defaults:$FLEET_USER secure_path="$FLEET_HOME/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
$FLEET_USER ALL=(ALL) ALL
SUDO
    chmod 0440 /etc/sudoers.d/pushinst-fleet
}

start() {
    local dir=$1; shift
    [ $# -gt 0 ] || die "start needs at least one ADDR:PORT"
    [ -s "$PASSWORD_FILE" ] && id "$FLEET_USER" >/dev/null 2>&1 || die "run '$0 setup' first (as root)"
    mkdir -p "$dir" /run/sshd
    dir=$(cd "$dir" && pwd)
    chmod 0755 "$dir"
    (umask 077; cp "$PASSWORD_FILE" "$dir/password")
    [ -f "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C fleet-ed25519 -f "$dir/id_ed25519"
    [ -f "$dir/id_rsa.pem" ] || ssh-keygen -q -t rsa -b 2048 -m PEM -N '' -C fleet-rsa-pem -f "$dir/id_rsa.pem"
    cat "$dir/id_ed25519.pub" "$dir/id_rsa.pem.pub" > "$dir/authorized_keys"
    chmod 0644 "$dir/authorized_keys"
    : > "$dir/known_hosts"
    : > "$dir/endpoints"
    touch "$dir/timeline" && chmod 0666 "$dir/timeline"
    local n=0 endpoint addr port host
    for endpoint in "$@"; do
        n=$((n + 1))
        addr=${endpoint%:*}
        port=${endpoint##*:}
        host=$dir/host$n
        mkdir -p "$host/root"
        chown "$FLEET_USER" "$host/root"
        [ -f "$host/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "host$n" -f "$host/ssh_host_ed25519_key"
        cat > "$host/sshd_config" <<CONF
ListenAddress $addr:$port
HostKey $host/ssh_host_ed25519_key
PidFile $host/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers $FLEET_USER
Subsystem sftp internal-sftp
SetEnv PUSHINST_FIXTURE_HOST=host$n PUSHINST_FIXTURE_DIR=$host/root
MaxStartups 200:30:400
MaxSessions 50
LogLevel INFO
CONF
        rm -f "$host/sshd.pid" "$host/sshd.log"
        /usr/sbin/sshd -f "$host/sshd_config" -E "$host/sshd.log" \
            || die "sshd for $endpoint did not start: $(cat "$host/sshd.log" 2>/dev/null)"
        wait_listening "$host" "$endpoint"
        if [ "$port" = 22 ]; then
            printf '%s %s\n' "$addr" "$(cut -d' ' -f1,2 "$host/ssh_host_ed25519_key.pub")" >> "$dir/known_hosts"
        else
            printf '[%s]:%s %s\n' "$addr" "$port" "$(cut -d' ' -f1,2 "$host/ssh_host_ed25519_key.pub")" >> "$dir/known_hosts"
        fi
        echo "$endpoint" >> "$dir/endpoints"
    done
}

# sshd detaches before it binds, and writes its pid file once it listens: wait for
# that, and fail loudly if the address was taken.
wait_listening() {
    local host=$1 endpoint=$2 i
    for i in $(seq 1 250); do
        if [ -s "$host/sshd.pid" ] && kill -0 "$(cat "$host/sshd.pid")" 2>/dev/null; then
            return 0
        fi
        if grep -q "Cannot bind\|fatal" "$host/sshd.log" 2>/dev/null; then
            die "sshd for $endpoint did not start: $(cat "$host/sshd.log")"
        fi
        sleep 0.02
    done
    die "sshd for $endpoint did not start within 5s: $(cat "$host/sshd.log" 2>/dev/null)"
}

stop() {
    local dir=$1 pidfile
    for pidfile in "$dir"/host*/sshd.pid; do
        [ -f "$pidfile" ] || continue
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    done
}

case "${1:-}" in
    setup) setup ;;
    start) shift; [ $# -ge 2 ] || die "usage: $0 start DIR ADDR:PORT…"; start "$@" ;;
    stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
    *) die "usage: $0 setup | start DIR ADDR:PORT… | stop DIR" ;;
esac
