#!/usr/bin/env bash
# A fleet of real OpenSSH servers on this machine, for the demo and the tests.
#
#   sshd-fleet.sh setup                 once, as root: install openssh-server, sudo and
#                                       the shells (fish, tcsh, zsh, busybox), create the
#                                       fleet users with one random password
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
# SSHD_FLEET_EXTRA (for `start`): sshd_config lines for every server started, placed
# before the Match blocks and before the defaults they replace (sshd takes the first
# value of a keyword), so one test can stand up a FIPS-like, legacy or hardened host.
# SSHD_FLEET_SFTP: the sftp subsystem's command (default internal-sftp); empty for a
# host with no `Subsystem sftp` at all (sshd refuses a second Subsystem line).
# SSHD_FLEET_SERVER=dropbear: start dropbear (Debian's dropbear-bin) instead of sshd,
# with no sftp-server (hidden from it in a mount namespace of its own); its sessions
# get PUSHINST_FIXTURE_HOST/DIR from its environment (-e). Password and publickey
# logins for the same users; no Match blocks (PATH is the default one).
# The servers listen on loopback only and admit only the fleet users:
#   pushinst-fleet     /bin/sh, sudo allowed (password)      home /var/lib/pushinst-fleet
#   pushinst-fish, pushinst-tcsh, pushinst-zsh, pushinst-dash, pushinst-ash
#                      that login shell (ash: busybox), sudo allowed
#   pushinst-tty       sudo allowed, with `requiretty`
#   pushinst-ttynp     sudo allowed without a password (NOPASSWD), with `requiretty`
#   pushinst-nosudo    not in sudoers
#   pushinst-targetpw  sudo with `targetpw` (root's password, which nobody knows)
#   pushinst-nopath    sudo allowed, but no sudo on the PATH its sessions get
#   pushinst-noexec    its home is a tmpfs mounted noexec
#   pushinst-full      its home is a 2 MiB tmpfs
#   pushinst-expired   its password has expired (`chage -d 0`)
#   pushinst-readonly  its home belongs to root: it cannot write there
#   pushinst-nosha     no sha256sum, shasum or openssl on its PATH (busybox is)
#   pushinst-nosum     no SHA-256 tool at all on its PATH
#   pushinst-chatty    zsh, whose ~/.zshenv prints a banner in every session (it
#                      breaks an external sftp-server)
# Every fleet user other than pushinst-fleet has its home at /var/lib/pushinst-USER.
set -euo pipefail

FLEET_USER=pushinst-fleet
FLEET_HOME=/var/lib/pushinst-fleet
PASSWORD_FILE=$FLEET_HOME.password

die() { echo "sshd-fleet: $*" >&2; exit 1; }

setup() {
    [ "$(id -u)" = 0 ] || die "setup must run as root (try: sudo $0 setup)"
    local packages="openssh-server sudo fish tcsh zsh busybox dropbear-bin"
    if ! [ -x /usr/sbin/sshd ] || ! command -v sudo >/dev/null || ! command -v fish >/dev/null \
        || ! command -v tcsh >/dev/null || ! command -v zsh >/dev/null || ! command -v busybox >/dev/null \
        || ! [ -x /usr/sbin/dropbear ]; then
        echo "sshd-fleet: installing $packages" >&2
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q $packages >/dev/null \
            || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $packages >/dev/null; }
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
    variants
}

# One user per kind of host a real fleet has: login shells, sudoers, staging mounts.
variants() {
    mkdir -p /usr/local/lib/pushinst-fleet
    # busybox runs ash when called by that name.
    ln -sf "$(command -v busybox)" /usr/local/lib/pushinst-fleet/ash
    local name shell home
    for spec in fish:/usr/bin/fish tcsh:/usr/bin/tcsh zsh:/usr/bin/zsh dash:/bin/dash \
        ash:/usr/local/lib/pushinst-fleet/ash tty:/bin/sh ttynp:/bin/sh nosudo:/bin/sh targetpw:/bin/sh \
        nopath:/bin/sh noexec:/bin/sh full:/bin/sh expired:/bin/sh readonly:/bin/sh \
        nosha:/bin/sh nosum:/bin/sh chatty:/usr/bin/zsh; do
        name=pushinst-${spec%%:*}
        shell=${spec#*:}
        home=/var/lib/$name
        grep -qx "$shell" /etc/shells || echo "$shell" >> /etc/shells
        if ! id "$name" >/dev/null 2>&1; then
            useradd --system --home-dir "$home" --shell "$shell" "$name"
        fi
        [ "$(getent passwd "$name" | cut -d: -f7)" = "$shell" ] || usermod --shell "$shell" "$name"
        mkdir -p "$home"
        case $name in
            pushinst-noexec) mountpoint -q "$home" || mount -t tmpfs -o size=16m,noexec,mode=0755 tmpfs "$home" ;;
            pushinst-full) mountpoint -q "$home" || mount -t tmpfs -o size=2m,mode=0755 tmpfs "$home" ;;
        esac
        if [ "$name" = pushinst-readonly ]; then chown root:root "$home"; chmod 0755 "$home"; else chown "$name" "$home"; fi
        if [ "$name" = pushinst-chatty ]; then
            printf '%s\n' 'echo "Welcome to $(hostname)! Authorised use only."' > "$home/.zshenv"
            chown "$name" "$home/.zshenv"
        fi
        echo "$name:$(cat "$PASSWORD_FILE")" | chpasswd
        # Must change its password at the next login (after chpasswd, which resets that).
        if [ "$name" = pushinst-expired ]; then chage -d 0 "$name"; fi
    done
    # pushinst-nopath: a PATH with the usual tools but no sudo (set by its sshd Match
    # block); pushinst-nosha: no sha256sum, shasum or openssl, but busybox;
    # pushinst-nosum: no SHA-256 tool at all. tar, ls, awk and df stage the upload.
    local base="sh cat chmod chown date id kill mkdir printf rm rmdir setsid sleep tail touch wc env test tar ls awk df"
    local tools tool
    for tools in nosudo-bin:sha256sum nosha-bin:busybox nosum-bin:; do
        local extra=${tools#*:}
        tools=/usr/local/lib/pushinst-fleet/${tools%%:*}
        mkdir -p "$tools"
        for tool in $base $extra; do
            [ -e "$tools/$tool" ] || ln -s "$(command -v "$tool")" "$tools/$tool" 2>/dev/null || true
        done
    done
    local everyone="pushinst-fish,pushinst-tcsh,pushinst-zsh,pushinst-dash,pushinst-ash,pushinst-tty,pushinst-ttynp,pushinst-targetpw,pushinst-nopath,pushinst-noexec,pushinst-full"
    cat > /etc/sudoers.d/pushinst-fleet-variants <<SUDO
Defaults:$everyone lecture=never, env_keep += "PUSHINST_FIXTURE_HOST PUSHINST_FIXTURE_DIR"
Defaults:$everyone secure_path="$FLEET_HOME/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
Defaults:pushinst-tty, pushinst-ttynp requiretty
Defaults:pushinst-targetpw targetpw
$everyone ALL=(ALL) ALL
pushinst-ttynp ALL=(ALL) NOPASSWD: ALL
SUDO
    chmod 0440 /etc/sudoers.d/pushinst-fleet-variants
    visudo -cq || die "sudoers variants do not parse"
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
        chmod 0777 "$host/root"
        [ -f "$host/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "host$n" -f "$host/ssh_host_ed25519_key"
        local sftp=${SSHD_FLEET_SFTP-internal-sftp} subsystem=
        [ -z "$sftp" ] || subsystem="Subsystem sftp $sftp
"
        cat > "$host/sshd_config" <<CONF
${SSHD_FLEET_EXTRA:-}
ListenAddress $addr:$port
HostKey $host/ssh_host_ed25519_key
PidFile $host/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers $FLEET_USER pushinst-fish pushinst-tcsh pushinst-zsh pushinst-dash pushinst-ash pushinst-tty pushinst-ttynp pushinst-nosudo pushinst-targetpw pushinst-nopath pushinst-noexec pushinst-full pushinst-expired pushinst-readonly pushinst-nosha pushinst-nosum pushinst-chatty
${subsystem}SetEnv PUSHINST_FIXTURE_HOST=host$n PUSHINST_FIXTURE_DIR=$host/root
MaxStartups 200:30:400
MaxSessions 50
LogLevel INFO
Match User pushinst-nopath
    SetEnv PATH=/usr/local/lib/pushinst-fleet/nosudo-bin PUSHINST_FIXTURE_HOST=host$n PUSHINST_FIXTURE_DIR=$host/root
Match User pushinst-nosha
    SetEnv PATH=/usr/local/lib/pushinst-fleet/nosha-bin PUSHINST_FIXTURE_HOST=host$n PUSHINST_FIXTURE_DIR=$host/root
Match User pushinst-nosum
    SetEnv PATH=/usr/local/lib/pushinst-fleet/nosum-bin PUSHINST_FIXTURE_HOST=host$n PUSHINST_FIXTURE_DIR=$host/root
CONF
        rm -f "$host/sshd.pid" "$host/sshd.log"
        local key=$host/ssh_host_ed25519_key.pub
        if [ "${SSHD_FLEET_SERVER:-sshd}" = dropbear ]; then
            start_dropbear "$host" "$n" "$addr" "$port"
            key=$host/dropbear_ed25519_host_key.pub
        else
            /usr/sbin/sshd -f "$host/sshd_config" -E "$host/sshd.log" \
                || die "sshd for $endpoint did not start: $(cat "$host/sshd.log" 2>/dev/null)"
        fi
        wait_listening "$host" "$endpoint"
        if [ "$port" = 22 ]; then
            printf '%s %s\n' "$addr" "$(cut -d' ' -f1,2 "$key")" >> "$dir/known_hosts"
        else
            printf '[%s]:%s %s\n' "$addr" "$port" "$(cut -d' ' -f1,2 "$key")" >> "$dir/known_hosts"
        fi
        echo "$endpoint" >> "$dir/endpoints"
    done
}

# dropbear for one endpoint: its own host key, and no sftp-server (an empty file is
# mounted over it in a mount namespace only this dropbear and its sessions see).
start_dropbear() {
    local host=$1 n=$2 addr=$3 port=$4
    [ -x /usr/sbin/dropbear ] || die "dropbear is not installed; run '$0 setup' (as root)"
    local key=$host/dropbear_ed25519_host_key
    if ! [ -f "$key" ]; then
        dropbearkey -t ed25519 -f "$key" >/dev/null 2>&1 || die "dropbearkey failed"
        dropbearkey -y -f "$key" 2>/dev/null | grep '^ssh-ed25519 ' > "$key.pub"
    fi
    : > "$host/no-sftp-server"
    chmod 0644 "$host/no-sftp-server"
    env PUSHINST_FIXTURE_HOST="host$n" PUSHINST_FIXTURE_DIR="$host/root" \
        unshare --mount --propagation private /bin/sh -c '
            for p in /usr/lib/sftp-server /usr/lib/openssh/sftp-server /usr/libexec/sftp-server; do
                [ -e "$p" ] && mount --bind "$1" "$p"
            done
            exec /usr/sbin/dropbear -F -E -e -m -w -p "$2" -r "$3" -P "$4"' \
        sh "$host/no-sftp-server" "$addr:$port" "$key" "$host/sshd.pid" \
        </dev/null >>"$host/sshd.log" 2>&1 &
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
