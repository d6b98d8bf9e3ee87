#!/usr/bin/env bash
# A real Active Directory domain controller (Samba AD DC) for the Kerberos tests: a
# KDC on port 88, DNS, LDAP and SMB on 445, in a network namespace of its own so its
# ports do not collide with anything on the machine. The domain refuses NTLM
# (`ntlm auth = disabled`, every NTLM logon answers STATUS_NTLM_BLOCKED, as a domain
# under "Restrict NTLM" does) and SMB signing is mandatory.
#
#   samba-ad-dc.sh setup         once, as root: install samba-ad-dc, krb5-user, smbclient
#                                and libfaketime (the clock skew test)
#   samba-ad-dc.sh start DIR     as root: provision the domain under DIR and serve it
#   samba-ad-dc.sh stop DIR      stop it and remove its namespace
#   samba-ad-dc.sh host DIR NAME [SPN…]  a computer account NAME$ in the running domain
#                                with SPNs cifs/ and host/name.example.test (and any SPN
#                                given), a random password, and its keys exported to
#                                DIR/NAME.keytab (printed): for the Windows emulator's
#                                EMULATOR_KEYTAB (tests/windows-emulator/krbauth.py)
#   samba-ad-dc.sh controller DIR  a network namespace for the controller (printed), its
#                                resolver the DC's DNS (/etc/netns/NS/resolv.conf, which
#                                `ip netns exec` puts over /etc/resolv.conf), reaching
#                                the DC over a veth pair of its own (10.82.x.y, the DC's
#                                10.81.x.y); `stop` removes it
#   samba-ad-dc.sh ptr DIR ADDRESS NAME  a PTR record ADDRESS -> NAME in the DC's DNS (its
#                                reverse zone made first), asked from the controller's
#                                namespace with Kerberos (the DC refuses NTLM)
#
# The namespace and addresses come from the environment (pick unique ones per test
# process): KDC_NETNS (default pidc), KDC_DC_ADDR (default 10.81.0.1, the DC, inside
# the namespace) and KDC_HOST_ADDR (default 10.81.0.2, this machine's end of the veth
# pair, from which the DC is reached). Realm EXAMPLE.TEST, domain EXAMPLE, DC dc1.
# `start` writes DIR/dc.env (NETNS, DC_ADDR, HOST_ADDR, REALM, DOMAIN, DC_NAME, USER,
# PASSWORD, SHARE) and DIR/krb5.conf (for KRB5_CONFIG); USER is a domain admin with
# the password PASSWORD. The share ADMIN$ is DIR/admin.
set -euo pipefail

die() { echo "samba-ad-dc: $*" >&2; exit 1; }

REALM=EXAMPLE.TEST
DOMAIN=EXAMPLE
DC_NAME=dc1

setup() {
    [ "$(id -u)" = 0 ] || die "setup must run as root"
    if ! dpkg -s samba-ad-dc krb5-user smbclient libfaketime >/dev/null 2>&1; then
        echo "samba-ad-dc: installing samba-ad-dc, krb5-user, smbclient and libfaketime" >&2
        install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q samba-ad-dc krb5-user smbclient libfaketime >/dev/null; }
        install || { apt-get update -q >/dev/null && install; }
    fi
}

start() {
    local dir=$1
    [ "$(id -u)" = 0 ] || die "start must run as root (it creates a network namespace)"
    command -v samba-tool >/dev/null && [ -x /usr/sbin/samba ] || die "run '$0 setup' first (as root)"
    local ns=${KDC_NETNS:-pidc} dc=${KDC_DC_ADDR:-10.81.0.1} host=${KDC_HOST_ADDR:-10.81.0.2}
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    local password user=deployer
    # AD's default policy wants three character classes and 7 characters.
    password="Pw-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')7a"
    rm -rf "$dir/dc"
    mkdir -p "$dir/dc" "$dir/admin"
    chmod 0777 "$dir/admin"

    # Signing mandatory from the start; provisioning needs no network. --host-ip: the
    # address is not on this machine yet, and the DC's DNS needs its A record (the
    # target of the _kerberos._tcp SRV record).
    samba-tool domain provision --targetdir="$dir/dc" --realm="$REALM" --domain="$DOMAIN" \
        --server-role=dc --dns-backend=SAMBA_INTERNAL --host-name="$DC_NAME" --host-ip="$dc" \
        --adminpass="$password" \
        --option="interfaces=$dc" --option="bind interfaces only=yes" \
        --option="server signing=mandatory" --option="pid directory=$dir/dc/pid" \
        >"$dir/provision.log" 2>&1 || die "provision failed: $(tail -5 "$dir/provision.log")"
    local conf=$dir/dc/etc/smb.conf
    mkdir -p "$dir/dc/pid"
    # Kerberos only: every NTLM logon refused (provision leaves this option out of the
    # file it writes, so it goes in afterwards), and logs beside the domain.
    sed -i -e "/^\[global\]/r /dev/stdin" -e '/^\tlog file = \/var\/log/d' "$conf" <<CONF
	ntlm auth = disabled
	log file = $dir/dc/log.%m
	log level = 1
CONF
    grep -q '^	ntlm auth = disabled' "$conf" || die "could not turn NTLM off in $conf"
    # An administrative share to upload to.
    cat >>"$conf" <<CONF

[ADMIN\$]
	path = $dir/admin
	read only = no
CONF
    samba-tool user create "$user" "$password" -s "$conf" >>"$dir/provision.log" 2>&1 \
        || die "cannot create the user: $(tail -3 "$dir/provision.log")"
    samba-tool group addmembers "Domain Admins" "$user" -s "$conf" >>"$dir/provision.log" 2>&1 \
        || die "cannot make the user a domain admin: $(tail -3 "$dir/provision.log")"

    ip netns add "$ns" || die "network namespace $ns exists: stop the DC that owns it"
    # Recorded at once, so that `stop` removes it whatever fails next.
    echo "$ns" >"$dir/netns"
    ip link add "${ns}h" type veth peer name "${ns}d"
    ip link set "${ns}d" netns "$ns"
    ip addr add "$host/30" dev "${ns}h"
    ip link set "${ns}h" up
    ip -n "$ns" addr add "$dc/30" dev "${ns}d"
    ip -n "$ns" link set "${ns}d" up
    ip -n "$ns" link set lo up

    cat >"$dir/krb5.conf" <<KRB
[libdefaults]
	default_realm = $REALM
	dns_lookup_kdc = false
	dns_lookup_realm = false
	rdns = false
[realms]
	$REALM = {
		kdc = $dc
	}
[domain_realm]
	.${REALM,,} = $REALM
KRB
    cat >"$dir/dc.env" <<ENV
NETNS=$ns
DC_ADDR=$dc
HOST_ADDR=$host
REALM=$REALM
DOMAIN=$DOMAIN
DC_NAME=$DC_NAME
USER=$user
PASSWORD=$password
SHARE=$dir/admin
ENV
    # A session of its own, so that its signals never reach the caller's group. smbd
    # finds winbindd at the socket compiled into libwbclient, /run/samba/winbindd, not
    # where smb.conf says: each DC gets a /run/samba of its own, bind-mounted in the
    # mount namespace `ip netns exec` makes (a slave of ours: nothing leaks out), or
    # the DCs of tests running in parallel would ask each other's winbindd.
    mkdir -p "$dir/dc/run"
    setsid ip netns exec "$ns" sh -c 'mount --bind "$1" /run/samba && shift && exec "$@"' \
        samba-ad-dc "$dir/dc/run" /usr/sbin/samba -i -M single -s "$conf" </dev/null >"$dir/samba.out" 2>&1 &
    echo $! >"$dir/samba.pid"
    wait_listening "$dir" "$dc" 88
    wait_listening "$dir" "$dc" 445
}

wait_listening() {
    local dir=$1 addr=$2 port=$3 i
    for i in $(seq 1 600); do
        if (exec 3<>"/dev/tcp/$addr/$port") 2>/dev/null; then
            return 0
        fi
        kill -0 "$(cat "$dir/samba.pid")" 2>/dev/null \
            || die "samba stopped before listening on $port: $(tail -5 "$dir/samba.out")"
        sleep 0.05
    done
    die "samba did not listen on $addr:$port within 30s: $(tail -5 "$dir/samba.out")"
}

host() {
    local dir=$1 name=${2,,}; shift 2
    dir=$(cd "$dir" && pwd)
    local conf=$dir/dc/etc/smb.conf fqdn=${name}.${REALM,,} spn args=()
    [ -f "$conf" ] || die "no domain under $dir: run '$0 start $dir' first"
    for spn in "cifs/$fqdn" "host/$fqdn" "$@"; do args+=("--service-principal-name=$spn"); done
    samba-tool computer create "$name" "${args[@]}" -s "$conf" >>"$dir/provision.log" 2>&1 \
        || die "cannot create the computer account $name: $(tail -3 "$dir/provision.log")"
    # A created computer account has no keys until it has a password.
    samba-tool user setpassword "$name\$" --newpassword="Mx-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')9a" \
        -s "$conf" >>"$dir/provision.log" 2>&1 || die "cannot set the password of $name\$: $(tail -3 "$dir/provision.log")"
    rm -f "$dir/$name.keytab"
    samba-tool domain exportkeytab "$dir/$name.keytab" --principal="$name\$" -s "$conf" >>"$dir/provision.log" 2>&1
    [ -s "$dir/$name.keytab" ] || die "exporting the keys of $name\$ wrote no keytab: $(tail -3 "$dir/provision.log")"
    echo "$dir/$name.keytab"
}

controller() {
    local dir=$1 NETNS DC_ADDR HOST_ADDR
    dir=$(cd "$dir" && pwd)
    [ "$(id -u)" = 0 ] || die "controller must run as root (it creates a network namespace)"
    [ -f "$dir/dc.env" ] || die "no domain under $dir: run '$0 start $dir' first"
    NETNS=$(sed -n 's/^NETNS=//p' "$dir/dc.env")
    DC_ADDR=$(sed -n 's/^DC_ADDR=//p' "$dir/dc.env")
    HOST_ADDR=$(sed -n 's/^HOST_ADDR=//p' "$dir/dc.env")
    local ns=${NETNS}c peer=${DC_ADDR/#10.81./10.82.} ctl=${HOST_ADDR/#10.81./10.82.}
    ip netns add "$ns" || die "network namespace $ns exists: stop the DC that owns it"
    echo "$ns" >"$dir/controller-netns"
    ip link add "${ns}h" type veth peer name "${ns}d"
    ip link set "${ns}h" netns "$ns"
    ip link set "${ns}d" netns "$NETNS"
    ip -n "$ns" addr add "$ctl/30" dev "${ns}h"
    ip -n "$ns" link set "${ns}h" up
    ip -n "$ns" link set lo up
    ip -n "$NETNS" addr add "$peer/30" dev "${ns}d"
    ip -n "$NETNS" link set "${ns}d" up
    # The DC listens on its own address only: reached through its end of this pair.
    ip -n "$ns" route add "$DC_ADDR/32" via "$peer"
    mkdir -p "/etc/netns/$ns"
    echo "nameserver $DC_ADDR" >"/etc/netns/$ns/resolv.conf"
    echo "$ns"
}

ptr() {
    local dir=$1 address=$2 name=$3 ns user password a b c d
    dir=$(cd "$dir" && pwd)
    [ -f "$dir/controller-netns" ] || die "no controller namespace: run '$0 controller $dir' first"
    ns=$(cat "$dir/controller-netns")
    user=$(sed -n 's/^USER=//p' "$dir/dc.env")
    password=$(sed -n 's/^PASSWORD=//p' "$dir/dc.env")
    IFS=. read -r a b c d <<<"$address"
    local zone="$c.$b.$a.in-addr.arpa" server="$DC_NAME.${REALM,,}"
    dns() {
        KRB5_CONFIG="$dir/krb5.conf" KRB5CCNAME="FILE:$dir/ptr.ccache" ip netns exec "$ns" \
            samba-tool dns "$@" -U "$user@$REALM%$password" --use-kerberos=required >>"$dir/provision.log" 2>&1
    }
    # The zone may exist from an earlier record.
    dns zoneinfo "$server" "$zone" || dns zonecreate "$server" "$zone" \
        || die "cannot create the zone $zone: $(tail -3 "$dir/provision.log")"
    dns add "$server" "$zone" "$d" PTR "$name" || die "cannot add the PTR record: $(tail -3 "$dir/provision.log")"
    rm -f "$dir/ptr.ccache"
}

stop() {
    local dir=$1 ns pid
    if [ -f "$dir/controller-netns" ]; then
        ns=$(cat "$dir/controller-netns")
        if [ -n "$ns" ]; then
            ip netns del "$ns" 2>/dev/null || true
            rm -rf "/etc/netns/$ns"
        fi
        rm -f "$dir/controller-netns"
    fi
    if [ -f "$dir/samba.pid" ]; then
        pid=$(cat "$dir/samba.pid")
        # setsid made it a process group leader: its children go with it.
        kill -TERM -- "-$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -KILL -- "-$pid" 2>/dev/null || true
        rm -f "$dir/samba.pid"
    fi
    if [ -f "$dir/netns" ]; then
        ns=$(cat "$dir/netns")
        # Deleting the namespace deletes its end of the veth pair, and with it ours.
        [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null || true
        rm -f "$dir/netns"
    fi
}

case "${1:-}" in
    setup) setup ;;
    start) [ $# -eq 2 ] || die "usage: $0 start DIR"; start "$2" ;;
    stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
    host) [ $# -ge 3 ] || die "usage: $0 host DIR NAME [SPN…]"; shift; host "$@" ;;
    controller) [ $# -eq 2 ] || die "usage: $0 controller DIR"; controller "$2" ;;
    ptr) [ $# -eq 4 ] || die "usage: $0 ptr DIR ADDRESS NAME"; ptr "$2" "$3" "$4" ;;
    *) die "usage: $0 setup | start DIR | stop DIR | host DIR NAME [SPN…] | controller DIR | ptr DIR ADDRESS NAME" ;;
esac
