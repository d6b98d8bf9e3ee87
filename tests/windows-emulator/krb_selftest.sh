#!/usr/bin/env bash
# The Windows emulator's Kerberos (krbauth.py), proven with impacket's own Kerberos
# client against a real KDC: a Samba AD DC (examples/fleet/samba-ad-dc.sh, NTLM
# refused) gets a computer account win1$ (SPNs cifs/, host/ and http/win1.example.test),
# its keys go to a keytab, an emulator is started with EMULATOR_KEYTAB and
# EMULATOR_NTLM=disabled, `kinit` + `kvno` fill a ticket cache as deployer, and
# krb_client.py connects BY ADDRESS while using tickets for cifs/win1.example.test
# (SMB) and host/win1.example.test (RPC):
#   accepted: SMB logon + upload to ADMIN$ + read back, the same with mutual
#             authentication, svcctl (OpenSCManagerW, CreateServiceW, DeleteService)
#             and atsvc (SchRpcRegisterTask, SchRpcDelete) bound with
#             RPC_C_AUTHN_GSS_NEGOTIATE at packet privacy, svcctl at packet integrity,
#             svcctl bound by hand with RPC_C_AUTHN_GSS_KERBEROS (type 16) and the
#             third leg in an AUTH3;
#   refused:  a ticket for http/win1 (KRB_AP_ERR_NOT_US), one for cifs/dc1 (another
#             account's key: KRB_AP_ERR_MODIFIED), an authenticator 10 minutes ahead
#             (KRB_AP_ERR_SKEW), NTLM (STATUS_NTLM_BLOCKED), atsvc below privacy, an
#             RPC bind with the http/ ticket (BIND_NAK);
# and each outcome is checked in the emulator's calls.log too.
#
# Run as root (network namespace, an address on lo). Environment (defaults):
# KRB_SELFTEST_DIR (a new temporary directory), KDC_NETNS (emukrb$$),
# KDC_DC_ADDR/KDC_HOST_ADDR (10.83.7.1/10.83.7.2), KRB_SELFTEST_ADDR (127.83.7.10:4450).
# Exit status 0 when every check passed; the directory is removed then.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
python=$here/.venv/bin/python
[ "$(id -u)" = 0 ] || { echo "krb_selftest: run as root" >&2; exit 2; }
[ -x "$python" ] || { echo "krb_selftest: run examples/fleet/windows-emulator.sh setup first" >&2; exit 2; }
command -v kinit >/dev/null && command -v samba-tool >/dev/null \
    || { echo "krb_selftest: run examples/fleet/samba-ad-dc.sh setup first" >&2; exit 2; }

dir=${KRB_SELFTEST_DIR:-$(mktemp -d /tmp/krb-selftest.XXXXXX)}
export KDC_NETNS=${KDC_NETNS:-emukrb$$} KDC_DC_ADDR=${KDC_DC_ADDR:-10.83.7.1} KDC_HOST_ADDR=${KDC_HOST_ADDR:-10.83.7.2}
endpoint=${KRB_SELFTEST_ADDR:-127.83.7.10:4450}
addr=${endpoint%:*} port=${endpoint##*:}
cleanup() {
    "$top/examples/fleet/windows-emulator.sh" stop "$dir/win" 2>/dev/null || true
    "$top/examples/fleet/samba-ad-dc.sh" stop "$dir/dc" || true
}
trap cleanup EXIT

"$top/examples/fleet/samba-ad-dc.sh" start "$dir/dc"
# shellcheck disable=SC1091
. "$dir/dc/dc.env"
keytab=$("$top/examples/fleet/samba-ad-dc.sh" host "$dir/dc" win1 http/win1.example.test)
export KRB5_CONFIG=$dir/dc/krb5.conf KRB5CCNAME=FILE:$dir/ccache
echo "$PASSWORD" | kinit "$USER@$REALM" >/dev/null
kvno cifs/win1.example.test host/win1.example.test http/win1.example.test "cifs/$DC_NAME.${REALM,,}" >/dev/null

EMULATOR_KEYTAB=$keytab EMULATOR_REALM=$REALM EMULATOR_SPN_HOST=win1.example.test EMULATOR_NTLM=disabled \
    "$top/examples/fleet/windows-emulator.sh" start "$dir/win" "$endpoint"
log=$dir/win/win1/calls.log

failed=0
check() {
    local name=$1 expect=$2 out
    out=$(timeout 60 "$python" "$here/krb_client.py" "$name" "$addr" "$port" win1.example.test "$REALM" \
        "$USER" "$PASSWORD" "$DC_ADDR" 2>&1) && status=0 || status=$?
    sleep 0.2  # the emulator writes its log line after answering
    if [ "$status" = 0 ] && grep -qF -- "$expect" "$log"; then
        echo "PASS $name: $out | log: $(grep -F -- "$expect" "$log" | tail -1)"
    else
        echo "FAIL $name: $out (log line wanted: $expect)"
        failed=1
    fi
}
check smb "KRB-OK smb client=$USER@$REALM spn=cifs/win1.example.test@$REALM mutual=False"
check smb-mutual "KRB-OK smb client=$USER@$REALM spn=cifs/win1.example.test@$REALM mutual=True acceptor_subkey=True"
check rpc-svcctl "CreateServiceW krbtest"
check rpc-atsvc "SchRpcRegisterTask \\krbtest"
check rpc-kerberos16 "auth_type=16"
check rpc-spnego-mic "KRB-THIRD-LEG rpc svcctl client=$USER@$REALM mechListMIC=True"
check rpc-svcctl-integrity "KRB-OK rpc svcctl client=$USER@$REALM spn=host/win1.example.test@$REALM level=5"
check smb-wrong-spn "KRB-REFUSED smb KRB_AP_ERR_NOT_US ticket for http/win1.example.test"
check smb-other-host "KRB-REFUSED smb KRB_AP_ERR_MODIFIED ticket for cifs/$DC_NAME.${REALM,,}"
check smb-skew "KRB-REFUSED smb KRB_AP_ERR_SKEW"
check ntlm "LOGON-REFUSED smb user=$USER domain=$DOMAIN"
check rpc-atsvc-integrity "RPC-REFUSED atsvc"
check rpc-wrong-spn "KRB-REFUSED rpc svcctl KRB_AP_ERR_NOT_US"
grep -q "KRB-THIRD-LEG rpc svcctl client=$USER@$REALM" "$log" || { echo "FAIL no DCE-style third leg logged"; failed=1; }
if grep -q "RPC-SIGNATURE-BAD\|RPCAUTH-ERROR\|HANDLER-ERROR" "$log"; then
    echo "FAIL the emulator logged errors:"; grep "RPC-SIGNATURE-BAD\|RPCAUTH-ERROR\|HANDLER-ERROR" "$log"; failed=1
fi
if [ "$failed" = 0 ]; then
    echo "krb_selftest: all checks passed"
    [ -n "${KRB_SELFTEST_DIR:-}" ] || { cleanup; trap - EXIT; rm -rf "$dir"; }
else
    echo "krb_selftest: FAILED; logs under $dir"
fi
exit "$failed"
