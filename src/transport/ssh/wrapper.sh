# pushinst's wrapper, uploaded beside the installer and run as `/bin/sh DIR/pushinst.sh`
# (the one command pushinst sends, parsed alike by every login shell). It reads
# pushinst.conf (written by pushinst: token, sudo, limit, keep, program, the checksums
# and `set -- ARGS`), checks the uploaded files, runs the installer -- through sudo
# when asked -- in a session of its own with its output in pushinst.log, kills that
# session at the time limit, and reports on standard output in lines
# "pushinst-TOKEN WORD ...". Then it removes DIR. The controller going away changes
# nothing: the run goes on, and DIR is removed all the same.
trap '' HUP PIPE
case $0 in */*) cd -- "${0%/*}" || exit 111 ;; esac
dir=$(pwd) || exit 111
phase=${1-}
bad=
say() { printf '\npushinst-%s %s\n' "$token" "$*"; }

# check HASH SIZE FILE (from pushinst.conf): the upload arrived intact. SHA-256 by the
# first tool the host has (GNU/busybox sha256sum, perl's shasum, BSD sha256, openssl,
# busybox); without any, the size alone is checked and the report says so.
check() {
    [ -n "$phase" ] && return 0
    f=./$3
    sum=$({ sha256sum "$f" || shasum -a 256 "$f" || sha256 -q "$f" || openssl dgst -sha256 -r "$f" \
        || busybox sha256sum "$f"; } 2>/dev/null)
    sum=${sum%% *}
    sum=${sum#\\}
    case $sum in
    ????????????????????????????????????????????????????????????????) ;;
    *) sum= ;;
    esac
    [ "$sum" = "$1" ] && return 0
    size=$(wc -c <"$f" 2>/dev/null)
    size=$((${size:-0} + 0))
    if [ "$size" != "$2" ]; then
        say size "$size" "$3"
    else
        say checksum "${sum:--}" "$3"
    fi
    bad=1
}

. ./pushinst.conf || exit 112

# The part that runs as the installer's user (root under sudo).
run() {
    : >pushinst.started
    if command -v setsid >/dev/null 2>&1; then
        setsid "./$program" "$@" </dev/null >pushinst.log 2>&1 &
    else
        "./$program" "$@" </dev/null >pushinst.log 2>&1 &
    fi
    pid=$!
    # The watchdog: in a session of its own (so killing it takes its sleep along) and
    # away from standard output (so it never holds the controller's channel open).
    watch='sleep "$1"; : >pushinst.timedout; kill -TERM "-$2" 2>/dev/null || kill -TERM "$2" 2>/dev/null; sleep 3; kill -KILL "-$2" 2>/dev/null'
    if command -v setsid >/dev/null 2>&1; then
        setsid /bin/sh -c "$watch" sh "$limit" "$pid" </dev/null >/dev/null 2>&1 &
    else
        /bin/sh -c "$watch" sh "$limit" "$pid" </dev/null >/dev/null 2>&1 &
    fi
    dog=$!
    wait "$pid"
    rc=$?
    if [ -f pushinst.timedout ]; then
        # Give what is left of the session a moment after TERM, then KILL it.
        i=0
        while kill -0 "-$pid" 2>/dev/null && [ "$i" -lt 3 ]; do
            sleep 1
            i=$((i + 1))
        done
        kill -KILL "-$pid" 2>/dev/null
        status=timeout
    elif [ "$rc" = 126 ] && ! { printf '#!/bin/sh\nexit 0\n' >pushinst.probe && chmod 700 pushinst.probe && ./pushinst.probe; } 2>/dev/null; then
        status="noexec ${dir%/*}"
    else
        status="exit $rc"
    fi
    # Before its setsid the watchdog has no session yet, and no sleep either.
    kill -TERM "-$dog" 2>/dev/null || kill -TERM "$dog" 2>/dev/null
    wait "$dog" 2>/dev/null
    echo "$status" >pushinst.status
    # Whatever ran as root leaves nothing the login user cannot remove.
    if [ -n "${SUDO_UID-}" ] && [ "$(id -u)" = 0 ]; then
        chown -hR "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$dir" 2>/dev/null
    fi
}

finish() {
    cd / && rm -rf -- "$dir" && say removed
    exit 0
}

if [ "$phase" = run ]; then
    run "$@"
    exit 0
fi

[ -n "$bad" ] && finish
case $sudo in
none)
    run "$@"
    ;;
*)
    if ! command -v sudo >/dev/null 2>&1; then
        say sudo-missing
        finish
    fi
    say sudo
    if [ "$sudo" = password ]; then
        sudo -S -p "pushinst-$token password:" -- /bin/sh "$dir/pushinst.sh" run
    else
        sudo -n -- /bin/sh "$dir/pushinst.sh" run
    fi
    sudo_rc=$?
    ;;
esac
if [ -f pushinst.status ]; then
    read -r status <pushinst.status
    say "$status"
    size=$(wc -c <pushinst.log)
    size=$((size + 0))
    n=$size
    [ "$n" -gt "$keep" ] && n=$keep
    say tail "$size" "$n"
    [ "$n" -gt 0 ] && tail -c "$n" pushinst.log
elif [ -f pushinst.started ]; then
    say lost
else
    say sudo-refused "${sudo_rc-}"
fi
finish
