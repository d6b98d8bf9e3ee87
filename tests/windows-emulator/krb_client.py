#!/usr/bin/env python3
"""impacket's own Kerberos client against the emulator, for krb_selftest.sh.

usage: krb_client.py CHECK ADDR PORT SPN_HOST REALM USER PASSWORD KDC
CHECK is one of:
  smb             the NEGOTIATE hint offers Kerberos; logon with a ticket for
                  cifs/SPN_HOST, upload to ADMIN$, read it back
  smb-mutual      the same with mutual authentication requested
  rpc-svcctl      SMB logon, then \\PIPE\\svcctl bound with RPC_C_AUTHN_GSS_NEGOTIATE at
                  packet privacy: OpenSCManagerW, CreateServiceW, DeleteService
  rpc-atsvc       \\PIPE\\atsvc bound the same way: SchRpcRegisterTask, SchRpcDelete
  rpc-svcctl-integrity  svcctl at packet integrity (Kerberos MIC tokens): accepted
  rpc-atsvc-integrity   atsvc at packet integrity: refused (atsvc demands privacy)
  rpc-wrong-spn   svcctl bound with a ticket for http/SPN_HOST: BIND_NAK
  smb-wrong-spn   a ticket for another SPN of the same account (http/SPN_HOST)
  smb-other-host  a ticket for cifs/dc1.<realm> (another account's key)
  smb-skew        an authenticator 10 minutes in the future
  ntlm            an NTLM logon (the emulator must refuse it when NTLM is disabled)
Prints OK or REFUSED <error> and exits 0 when the outcome is the expected one
(OK for smb, smb-mutual, rpc-*; REFUSED for the rest).
"""

import datetime
import os
import sys

from impacket.dcerpc.v5 import rpcrt, scmr, transport, tsch
from impacket.krb5.ccache import CCache
from impacket.smbconnection import SMBConnection


def tgt(user, password, realm, kdc):
    """The TGT from the ticket cache kinit left in KRB5CCNAME."""
    cache = CCache.loadFile(os.environ["KRB5CCNAME"].removeprefix("FILE:"))
    return cache.getCredential("krbtgt/%s@%s" % (realm, realm)).toTGT()


def tgs(spn, realm, kdc, t):
    """A service ticket from the cache (`kvno SPN` put it there): Samba 4.17's KDC
    refuses impacket's own TGS-REQ (unkeyed checksum, KRB_AP_ERR_INAPP_CKSUM)."""
    cache = CCache.loadFile(os.environ["KRB5CCNAME"].removeprefix("FILE:"))
    credential = cache.getCredential("%s@%s" % (spn, realm))
    if credential is None:
        raise RuntimeError("no ticket for %s in the cache" % spn)
    return credential.toTGS()


def main():
    check, addr, port, host, realm, user, password, kdc = sys.argv[1:9]
    port = int(port)
    expect_ok = check in ("smb", "smb-mutual", "rpc-svcctl", "rpc-atsvc", "rpc-svcctl-integrity")
    try:
        conn = SMBConnection(host, addr, sess_port=port)
        if check == "smb":
            # The NEGOTIATE answer's SPNEGO hint offers Kerberos (MS KRB5 OID first).
            hint = conn._SMBConnection._Connection["GSSNegotiateToken"]
            if b"\x2a\x86\x48\x82\xf7\x12\x01\x02\x02" not in hint:
                raise RuntimeError("the NEGOTIATE answer does not offer Kerberos: %s" % hint.hex())
        if check == "ntlm":
            conn.login(user, password, realm.split(".")[0])
        else:
            t = tgt(user, password, realm, kdc)
            service = tgs("cifs/%s" % host, realm, kdc, t)
            if check == "smb-wrong-spn":
                service = tgs("http/%s" % host, realm, kdc, t)
            elif check == "smb-other-host":
                service = tgs("cifs/dc1.%s" % realm.lower(), realm, kdc, t)
            if check == "smb-skew":
                import impacket.smb3 as smb3mod
                real = datetime.datetime

                class Ahead(real):
                    @classmethod
                    def now(cls, tz=None):
                        return real.now(tz) + datetime.timedelta(minutes=10)

                datetime.datetime = Ahead
                try:
                    conn.kerberosLogin(user, password, realm, kdcHost=kdc, TGT=t, TGS=service)
                finally:
                    datetime.datetime = real
                del smb3mod
            else:
                if check == "smb-mutual":
                    # SMBConnection does not pass mutualAuth on; its SMB3 object does.
                    conn._SMBConnection.kerberosLogin(user, password, realm, kdcHost=kdc, TGT=t, TGS=service,
                                                      mutualAuth=True)
                else:
                    conn.kerberosLogin(user, password, realm, kdcHost=kdc, TGT=t, TGS=service)
        if check in ("smb", "smb-mutual"):
            payload = b"uploaded with Kerberos\r\n" * 100
            import io
            conn.putFile("ADMIN$", "Temp\\krb-upload.txt", io.BytesIO(payload).read)
            back = io.BytesIO()
            conn.getFile("ADMIN$", "Temp\\krb-upload.txt", back.write)
            if back.getvalue() != payload:
                raise RuntimeError("read back differs")
        elif check.startswith("rpc-"):
            pipe = "atsvc" if check.startswith("rpc-atsvc") else "svcctl"
            rpc = transport.SMBTransport(addr, port, r"\%s" % pipe, smb_connection=conn)
            # RPC asks for host/NAME, as Windows' RPC client does.
            spn = "http/%s" % host if check == "rpc-wrong-spn" else "host/%s" % host
            rpc.set_credentials(user, password, realm, TGT=t, TGS=tgs(spn, realm, kdc, t))
            rpc.set_kerberos(True, kdcHost=kdc)
            dce = rpc.get_dce_rpc()
            dce.set_auth_type(rpcrt.RPC_C_AUTHN_GSS_NEGOTIATE)
            integrity = check.endswith("-integrity")
            dce.set_auth_level(rpcrt.RPC_C_AUTHN_LEVEL_PKT_INTEGRITY if integrity else rpcrt.RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
            dce.connect()
            if pipe == "svcctl":
                dce.bind(scmr.MSRPC_UUID_SCMR)
                manager = scmr.hROpenSCManagerW(dce)["lpScHandle"]
                service = scmr.hRCreateServiceW(dce, manager, "krbtest\x00", "krbtest\x00",
                                                lpBinaryPathName="%COMSPEC% /Q /c echo hi\x00",
                                                dwStartType=scmr.SERVICE_DEMAND_START)["lpServiceHandle"]
                scmr.hRDeleteService(dce, service)
                scmr.hRCloseServiceHandle(dce, service)
                scmr.hRCloseServiceHandle(dce, manager)
            else:
                dce.bind(tsch.MSRPC_UUID_TSCHS)
                xml = "<Task><Actions><Exec><Command>cmd.exe</Command><Arguments>/c echo</Arguments></Exec></Actions></Task>"
                tsch.hSchRpcRegisterTask(dce, "\\krbtest", xml, tsch.TASK_CREATE, NULL_, tsch.TASK_LOGON_NONE)
                tsch.hSchRpcDelete(dce, "\\krbtest")
            dce.disconnect()
        print("OK %s" % check)
        return 0 if expect_ok else 1
    except Exception as e:
        print("REFUSED %s: %s" % (check, str(e).replace("\n", " ")))
        return 1 if expect_ok else 0


NULL_ = None
if __name__ == "__main__":
    from impacket.dcerpc.v5.dtypes import NULL
    NULL_ = NULL
    sys.exit(main())
