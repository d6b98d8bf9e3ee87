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
  rpc-kerberos16  svcctl bound by hand with auth type 16 (RPC_C_AUTHN_GSS_KERBEROS, no
                  SPNEGO), the DCE-style third leg in an AUTH3, one sealed
                  OpenSCManagerW (impacket's own client only speaks type 9)
  rpc-spnego-mic  type 9 by hand as sspi-rs does it: a bare AP-REQ in SPNEGO, the third
                  leg in an ALTER_CONTEXT with a mechListMIC, the answer's mechListMIC
                  verified, then a sealed call numbered after the MIC
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
    expect_ok = check in ("smb", "smb-mutual", "rpc-svcctl", "rpc-atsvc", "rpc-svcctl-integrity", "rpc-kerberos16",
                          "rpc-spnego-mic")
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
        elif check.startswith("rpc-") and check not in ("rpc-kerberos16", "rpc-spnego-mic"):
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
        if check == "rpc-kerberos16":
            raw_kerberos_bind(conn, addr, port, host, realm, user, password, kdc, t, 16)
        if check == "rpc-spnego-mic":
            raw_kerberos_bind(conn, addr, port, host, realm, user, password, kdc, t, 9)
        print("OK %s" % check)
        return 0 if expect_ok else 1
    except Exception as e:
        print("REFUSED %s: %s" % (check, str(e).replace("\n", " ")))
        return 1 if expect_ok else 0


def raw_kerberos_bind(conn, addr, port, host, realm, user, password, kdc, t, auth_type):
    """Type 16: a BIND with the GSS AP-REQ in auth_value, the bare AP-REP from the
    BIND_ACK, the client's AP-REP in an AUTH3. Type 9 (as sspi-rs does it): SPNEGO
    with the bare AP-REQ, the client's AP-REP and a mechListMIC in an
    ALTER_CONTEXT, the acceptor's mechListMIC checked. Then OpenSCManagerW sealed
    with an RFC 4121 wrap token and its answer unwrapped."""
    import krbauth
    from impacket.krb5.crypto import _SHA1AES128, _SHA1AES256
    from impacket.dcerpc.v5.rpcrt import (CtxItem, MSRPCBind, MSRPCHeader, MSRPCRequestHeader, SEC_TRAILER,
                                          MSRPC_AUTH3, MSRPC_BIND, MSRPC_BINDACK, MSRPC_REQUEST)
    from impacket.krb5.gssapi import GSSAPI_AES128, GSSAPI_AES256
    from impacket.krb5.kerberosv5 import getKerberosType1, getKerberosType3
    from impacket.spnego import SPNEGO_NegTokenInit, SPNEGO_NegTokenResp
    from impacket.uuid import uuidtup_to_bin
    import struct

    rpc = transport.SMBTransport(addr, port, r"\svcctl", smb_connection=conn)
    rpc.connect()
    cipher, session_key, blob = getKerberosType1(user, password, realm, "", "", "", TGT=t,
                                                 TGS=tgs("host/%s" % host, realm, kdc, t), targetName=host,
                                                 kdcHost=kdc, useCache=False)
    ap_req = SPNEGO_NegTokenInit(blob)["MechToken"]
    mechs = [krbauth.OID_MS_KRB5_DER[2:], krbauth.OID_KRB5_DER[2:]]
    if auth_type == 9:
        init = SPNEGO_NegTokenInit()
        init["MechTypes"] = mechs
        init["MechToken"] = krbauth.gss_unframe(ap_req)[2]
        ap_req = init.getData()

    def trailer(pad):
        sec = SEC_TRAILER()
        sec["auth_type"], sec["auth_level"], sec["auth_pad_len"], sec["auth_ctx_id"] = auth_type, 6, pad, 79231
        return sec

    bind = MSRPCBind()
    item = CtxItem()
    item["AbstractSyntax"] = uuidtup_to_bin(("367ABB81-9844-35F1-AD32-98F038001003", "2.0"))
    item["TransferSyntax"] = uuidtup_to_bin(("8a885d04-1ceb-11c9-9fe8-08002b104860", "2.0"))
    item["ContextID"], item["TransItems"] = 0, 1
    bind.addCtxItem(item)
    packet = MSRPCHeader()
    packet["type"], packet["pduData"], packet["call_id"] = MSRPC_BIND, bind.getData(), 1
    packet["sec_trailer"], packet["auth_data"] = trailer(0), ap_req
    rpc.send(packet.get_packet())
    ack = rpc.recv()
    if ack[2] != MSRPC_BINDACK:
        raise RuntimeError("bind answered with PDU type %d" % ack[2])
    auth_len = struct.unpack_from("<H", ack, 10)[0]
    bare_rep = ack[-auth_len:]
    if auth_type == 9:
        bare_rep = krbauth.parse_neg_token_resp(bare_rep).get("token", b"")
    if bare_rep[:1] != b"\x6f":
        raise RuntimeError("BIND_ACK auth_value is not a bare AP-REP")
    wrapped = SPNEGO_NegTokenResp()
    wrapped["ResponseToken"] = bare_rep
    cipher2, key2, third = getKerberosType3(cipher, session_key, wrapped.getData())
    third = SPNEGO_NegTokenResp(third)["ResponseToken"]
    seq = 0  # impacket's authenticator seq-number
    if auth_type == 16:
        auth3 = MSRPCHeader()
        auth3["type"], auth3["pduData"], auth3["call_id"] = MSRPC_AUTH3, b"    ", 1
        auth3["sec_trailer"], auth3["auth_data"] = trailer(0), third
        rpc.send(auth3.get_packet())
    else:
        profile = _SHA1AES256 if key2.enctype == 18 else _SHA1AES128
        mech_list = krbauth.mech_type_list(mechs)
        header = struct.pack(">HB5sQ", 0x0404, 0x04, b"\xff" * 5, seq)
        mic = header + profile.checksum(key2, 25, mech_list + header)
        seq += 1  # the MIC took a sequence number
        alter = MSRPCHeader()
        alter["type"], alter["pduData"], alter["call_id"] = 14, bind.getData(), 1
        alter["sec_trailer"], alter["auth_data"] = trailer(0), krbauth.neg_token_resp(token=third, mic=mic)
        rpc.send(alter.get_packet())
        answer = rpc.recv()
        if answer[2] != 15:
            raise RuntimeError("ALTER_CONTEXT answered with PDU type %d" % answer[2])
        auth_len = struct.unpack_from("<H", answer, 10)[0]
        fields = krbauth.parse_neg_token_resp(answer[-auth_len:])
        server_mic = fields.get("mic", b"")
        if fields.get("state") != b"\x00" or len(server_mic) != 28 or not server_mic[2] & 1 or \
                profile.checksum(key2, 23, mech_list + server_mic[:16]) != server_mic[16:]:
            raise RuntimeError("ALTER_CONTEXT_RESP without a valid acceptor mechListMIC: %r" % fields)

    request = scmr.ROpenSCManagerW()
    request["lpMachineName"] = "DUMMY\x00"
    request["lpDatabaseName"] = "ServicesActive\x00"
    request["dwDesiredAccess"] = scmr.SERVICE_START | scmr.SC_MANAGER_CREATE_SERVICE
    stub = request.getData()
    pad = (16 - len(stub) % 16) % 16
    gss = GSSAPI_AES256() if cipher2.enctype == 18 else GSSAPI_AES128()
    sealed, verifier = gss.GSS_Wrap(key2, stub + b"\xbb" * pad, seq)
    pdu = MSRPCRequestHeader()
    pdu["type"], pdu["op_num"], pdu["ctx_id"], pdu["call_id"] = MSRPC_REQUEST, 15, 0, 2
    pdu["alloc_hint"] = len(stub)
    pdu["pduData"], pdu["sec_trailer"], pdu["auth_data"] = sealed, trailer(pad), verifier
    rpc.send(pdu.get_packet())
    answer = rpc.recv()
    if answer[2] != 2:
        raise RuntimeError("OpenSCManagerW answered with PDU type %d" % answer[2])
    auth_len = struct.unpack_from("<H", answer, 10)[0]
    sec_and_verifier = answer[-auth_len - 8:]
    plain, _ = gss.GSS_Unwrap(key2, answer[24:-auth_len - 8], 0, authData=sec_and_verifier)
    plain = plain[:len(plain) - sec_and_verifier[2]]
    if scmr.ROpenSCManagerWResponse(plain)["ErrorCode"] != 0:
        raise RuntimeError("OpenSCManagerW failed")


NULL_ = None
if __name__ == "__main__":
    from impacket.dcerpc.v5.dtypes import NULL
    NULL_ = NULL
    sys.exit(main())
