# pushinst's staging script, read by `/bin/sh -s` on the host (nothing on the command
# line: any login shell parses `/bin/sh -s`). pushinst puts before it: token, parent
# (where the staging directory goes, `.` for the login home), base (its name),
# needs_kib, and a function `modes` that sets each file's mode; the whole is one `{ }`
# block, so the shell has read all of it before anything runs (dash and busybox read
# ahead on a pipe: bytes meant for tar must not be sent before `ready`).
# It checks for room, creates the directory (mode 0700; failing if it exists, so nobody
# can plant it), refuses a place others could swap files in, says `ready`, and unpacks
# the ustar archive pushinst then sends, saying how far it got every second. Lines it
# prints: "pushinst-TOKEN WORD ...". On any failure it removes what it created: also
# when the connection goes (tar sees end of file).
trap '' HUP PIPE
umask 077
say() { printf '\npushinst-%s %s\n' "$token" "$*"; }
# KiB free here: the 4th field of df's second line (its header has 7 words).
kib_free() {
    set -- $(df -Pk . 2>/dev/null)
    case ${11-} in
    *[!0-9]* | '') ;;
    *) echo "${11}" ;;
    esac
}
set -f
if ! cd -- "$parent" 2>/dev/null; then
    say mkdir missing
    exit 0
fi
real=$(pwd -P) || real=$parent
free=$(kib_free)
say room "${free:--}" "$real"
if [ -n "$free" ] && [ "$free" -lt "$needs_kib" ] 2>/dev/null; then
    say nospace
    exit 0
fi
if ! mkdir -m 700 -- "$base" 2>/dev/null; then
    if [ -e "$base" ] || [ -h "$base" ]; then
        say mkdir exists
    elif [ ! -w . ]; then
        say mkdir denied
    else
        say mkdir failed
    fi
    exit 0
fi
if ! command -v tar >/dev/null 2>&1; then
    rmdir -- "$base"
    say notar
    exit 0
fi

# Who could rename entries on the way to the directory: only root and the login user
# may (a sticky directory lets only an entry's owner). One `ls` for the directory and
# every ancestor; what it cannot tell is not held against the host.
set -- "$base" /
rest=${real#/}
at=
while [ -n "$rest" ]; do
    at=$at/${rest%%/*}
    case $rest in
    */*) rest=${rest#*/} ;;
    *) rest= ;;
    esac
    set -- "$@" "$at"
done
listing=$(LC_ALL=C ls -dn -- "$@" 2>/dev/null)
# m, u, g: the mode, uid and gid of PATH in the listing (empty when it has none).
attrs() {
    m= u= g=
    while read -r m l u g s mo d t name; do
        [ "$name" = "$1" ] && return 0
    done <<LISTING
$listing
LISTING
    m= u= g=
}
attrs "$base"
uid=$u gid=$g
shift
for at in "$@"; do
    attrs "$at"
    [ -n "$m" ] && [ -n "$uid" ] || continue
    if [ "$u" != 0 ] && [ "$u" != "$uid" ]; then
        say exposed owner "$u" "$at"
        rmdir -- "$base"
        exit 0
    fi
    case $m in
    ?????????[tT]*) ;;
    ????????w*)
        say exposed world - "$at"
        rmdir -- "$base"
        exit 0
        ;;
    ?????w*)
        if [ "$g" != "$gid" ]; then
            say exposed group "$g" "$at"
            rmdir -- "$base"
            exit 0
        fi
        ;;
    esac
done

cd -- "$base" || exit 0
say ready
# How far the upload got, every second: a slow link that moves is never "stalled".
(
    while :; do
        sleep 1 </dev/null >/dev/null 2>&1
        say progress "$(ls -ln 2>/dev/null | awk '{ s += $5 } END { print s + 0 }')"
    done
) &
watch=$!
err=$(tar -xf - 2>&1 >/dev/null)
rc=$?
kill "$watch" 2>/dev/null
wait "$watch" 2>/dev/null
if [ "$rc" = 0 ] && ! modes 2>/dev/null; then
    rc=1
    err="chmod failed"
fi
if [ "$rc" != 0 ]; then
    # Measured before the partial files go: a full disk shows as one.
    free=$(kib_free)
    cd -- "$real" && rm -rf -- "$base"
    say failed "$rc" "${free:--}"
    printf '%s\n' "$err" | tail -n 5
    exit 0
fi
say stored
