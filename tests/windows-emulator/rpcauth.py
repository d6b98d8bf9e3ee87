"""NTLM and DCE/RPC security as current Windows enforces them, for the Windows host
EMULATOR (emulator.py). It is not Windows; it checks what Windows checks where
pushinst can be seen to get it wrong:

- DCE/RPC authentication (MS-RPCE 2.2.2.11, 3.3.1.5.2): a BIND may carry NTLMSSP
  (RPC_C_AUTHN_WINNT); the BIND_ACK answers with a CHALLENGE, the AUTH3's
  AUTHENTICATE is verified against the account's password (the NTLMv2 proof), and
  from then on every request's signature is verified before its stub is unsealed,
  and every response is sealed and signed (NTLM with extended session security and
  key exchange, per-direction sequence numbers). A bad signature answers
  nca_s_fault_access_denied and is logged as RPC-SIGNATURE-BAD.
- \\PIPE\\atsvc refuses every call whose binding is below packet privacy, as
  patched Windows does: fault 5 (access denied), logged as RPC-REFUSED.
  \\PIPE\\svcctl takes both, but verifies whatever authentication is present.
- Logon statuses: EMULATOR_LOGON_STATUS="user=0xC0000418,other=0xC000015B" answers
  the SMB SESSION_SETUP of those accounts with that NTSTATUS (whatever the
  password), logged as LOGON-REFUSED.
- Extra accounts: EMULATOR_ACCOUNTS="svc@corp.example,deploy" adds accounts with
  the emulator's password (Administrator always exists).
- A man in the middle: EMULATOR_RPC_BAD_SIGNATURE=1 flips one bit of every sealed
  response's signature, as tampering on the path would.
- SPN target name hardening: EMULATOR_TARGET_NAME_HARDENING=1 makes the SMB logon
  and the RPC binds demand MsvAvTargetName == cifs/<the address the emulator
  listens on> and a valid MIC (MsvAvFlags bit 2, HMAC-MD5 over the three NTLM
  messages under the exported session key); a mismatch is STATUS_ACCESS_DENIED on
  the logon (or an RPC fault), logged as TARGET-NAME-REFUSED. Without the knob the
  MIC is still verified whenever MsvAvFlags announces one.

- NTLM refused: EMULATOR_NTLM=disabled answers every NTLM AUTHENTICATE (SMB or
  RPC AUTH3) with STATUS_NTLM_BLOCKED, as `ntlm auth = disabled` or "Restrict NTLM:
  Deny all" does, logged as LOGON-REFUSED (SMB) or RPC-AUTH-FAILED.
- Kerberos: EMULATOR_KEYTAB (+ EMULATOR_REALM, EMULATOR_SPN_HOST) accepts AP-REQs in
  SESSION_SETUP and in RPC binds with auth type 9 (SPNEGO) or 16 (Kerberos); the
  checks, the keys and the token layouts are krbauth.py's. A refused AP-REQ is
  STATUS_LOGON_FAILURE (STATUS_TIME_DIFFERENCE_AT_DC for clock skew) on SMB and a
  BIND_NAK on RPC. Calls on a Kerberos binding before its DCE-style third leg
  (AUTH3 or ALTER_CONTEXT) are refused.

Every verified logon or binding is logged (NTLM-OK, RPC-AUTH, KRB-OK) with the user,
domain and target name seen, for the tests to check.
"""

import hmac
import os
import random
import struct
import time

from Cryptodome.Cipher import ARC4
from impacket import ntlm
from impacket import smb3structs as smb2
from impacket.dcerpc.v5 import rpcrt
from impacket.spnego import SPNEGO_NegTokenInit, SPNEGO_NegTokenResp, TypesMech

import krbauth

STATUS_SUCCESS = 0
STATUS_ACCESS_DENIED = 0xC0000022
STATUS_LOGON_FAILURE = 0xC000006D
STATUS_NTLM_BLOCKED = 0xC0000418
STATUS_TIME_DIFFERENCE_AT_DC = 0xC0000133

RPC_C_AUTHN_GSS_NEGOTIATE = 9
RPC_C_AUTHN_GSS_KERBEROS = 16

RPC_C_AUTHN_WINNT = 10
RPC_C_AUTHN_LEVEL_PKT_INTEGRITY = 5
RPC_C_AUTHN_LEVEL_PKT_PRIVACY = 6
NCA_S_FAULT_ACCESS_DENIED = 0x00000005

MSRPC_REQUEST = 0
MSRPC_RESPONSE = 2
MSRPC_FAULT = 3
MSRPC_BIND = 11
MSRPC_AUTH3 = 16
MSRPC_ALTERCTX = 14
MSRPC_ALTERCTX_R = 15
MSRPC_BIND_NAK = 13
PFC_FIRST_FRAG = 0x01
PFC_LAST_FRAG = 0x02
PFC_SUPPORT_HEADER_SIGN = 0x04

AV_EOL = 0
AV_FLAGS = 6
AV_TARGET_NAME = 9
MIC_PRESENT = 0x2
MIC_OFFSET = 72


def hmac_md5(key, data):
    return hmac.new(key, data, "md5").digest()


def av_pairs(blob):
    """AV_PAIRs up to MsvAvEOL, as a dict id -> value."""
    pairs, at = {}, 0
    while at + 4 <= len(blob):
        av_id, length = struct.unpack_from("<HH", blob, at)
        if av_id == AV_EOL:
            break
        pairs[av_id] = blob[at + 4:at + 4 + length]
        at += 4 + length
    return pairs


class Knobs:
    """What the environment asks of this emulator."""

    def __init__(self, password, listen_address):
        self.passwords = {"administrator": password}
        for name in filter(None, os.environ.get("EMULATOR_ACCOUNTS", "").split(",")):
            self.passwords[name.strip().lower()] = password
        self.statuses = {}
        for entry in filter(None, os.environ.get("EMULATOR_LOGON_STATUS", "").split(",")):
            user, status = entry.split("=", 1)
            self.statuses[user.strip().lower()] = int(status, 16)
        self.hardening = os.environ.get("EMULATOR_TARGET_NAME_HARDENING", "") not in ("", "0")
        self.target_name = "cifs/" + listen_address
        self.bad_signature = os.environ.get("EMULATOR_RPC_BAD_SIGNATURE", "") not in ("", "0")
        self.kerberos = krbauth.from_environment()
        self.ntlm_disabled = os.environ.get("EMULATOR_NTLM", "") == "disabled"


class Outcome:
    def __init__(self, status, why, user="", domain="", target="", key=None, flags=0):
        self.status, self.why = status, why
        self.user, self.domain, self.target = user, domain, target
        self.key, self.flags = key, flags

    def line(self):
        return "user=%s domain=%s target=%s %s" % (self.user, self.domain, self.target, self.why)


def verify_authenticate(knobs, negotiate_raw, challenge_raw, server_challenge, auth_raw):
    """Check an AUTHENTICATE message as a Windows server does; the exported
    session key when it passes."""
    auth = ntlm.NTLMAuthChallengeResponse()
    auth.fromString(auth_raw)
    user = auth["user_name"].decode("utf-16le")
    domain = auth["domain_name"].decode("utf-16le")
    nt = auth["ntlm"]
    pairs = av_pairs(nt[16 + 28:]) if len(nt) >= 16 + 28 else {}
    target = pairs.get(AV_TARGET_NAME, b"").decode("utf-16le", "replace")
    seen = dict(user=user, domain=domain, target=target)
    if knobs.ntlm_disabled:
        # As a domain under "Restrict NTLM: Deny all" (Samba: ntlm auth = disabled).
        return Outcome(STATUS_NTLM_BLOCKED, "NTLM disabled", **seen)
    injected = knobs.statuses.get(user.lower())
    if injected is not None:
        return Outcome(injected, "injected status 0x%08X" % injected, **seen)
    password = knobs.passwords.get(user.lower())
    if password is None:
        return Outcome(STATUS_LOGON_FAILURE, "no such account", **seen)
    if len(nt) < 16 + 28:
        return Outcome(STATUS_LOGON_FAILURE, "not an NTLMv2 response", **seen)
    key = ntlm.NTOWFv2(user, password, domain)
    proof = nt[:16]
    if not hmac.compare_digest(hmac_md5(key, server_challenge + nt[16:]), proof):
        return Outcome(STATUS_LOGON_FAILURE, "wrong NTLMv2 proof", **seen)
    base = hmac_md5(key, proof)
    flags = auth["flags"]
    exported = ARC4.new(base).decrypt(auth["session_key"]) if flags & ntlm.NTLMSSP_NEGOTIATE_KEY_EXCH else base
    av_flags = struct.unpack("<I", pairs[AV_FLAGS])[0] if len(pairs.get(AV_FLAGS, b"")) == 4 else 0
    if av_flags & MIC_PRESENT:
        mic = auth_raw[MIC_OFFSET:MIC_OFFSET + 16]
        zeroed = auth_raw[:MIC_OFFSET] + b"\x00" * 16 + auth_raw[MIC_OFFSET + 16:]
        if negotiate_raw is None or not hmac.compare_digest(
                hmac_md5(exported, negotiate_raw + challenge_raw + zeroed), mic):
            return Outcome(STATUS_ACCESS_DENIED, "bad MIC", **seen)
    if knobs.hardening:
        if not av_flags & MIC_PRESENT:
            return Outcome(STATUS_ACCESS_DENIED, "no MIC", **seen)
        if target.lower() != knobs.target_name.lower():
            return Outcome(STATUS_ACCESS_DENIED, "target name %r, expected %r" % (target, knobs.target_name), **seen)
    return Outcome(STATUS_SUCCESS, "mic=%s" % bool(av_flags & MIC_PRESENT), key=exported, flags=flags, **seen)


def challenge_message(negotiate_raw):
    """A CHALLENGE as Windows answers an RPC bind's NEGOTIATE: sealing, signing,
    extended session security and key exchange when asked, a timestamp."""
    negotiate = ntlm.NTLMAuthNegotiate()
    negotiate.fromString(negotiate_raw)
    asked = negotiate["flags"]
    flags = ntlm.NTLMSSP_NEGOTIATE_VERSION | ntlm.NTLMSSP_NEGOTIATE_TARGET_INFO | ntlm.NTLMSSP_TARGET_TYPE_SERVER \
        | ntlm.NTLMSSP_NEGOTIATE_NTLM | ntlm.NTLMSSP_REQUEST_TARGET
    for bit in (ntlm.NTLMSSP_NEGOTIATE_56, ntlm.NTLMSSP_NEGOTIATE_128, ntlm.NTLMSSP_NEGOTIATE_KEY_EXCH,
                ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY, ntlm.NTLMSSP_NEGOTIATE_UNICODE,
                ntlm.NTLMSSP_NEGOTIATE_SIGN, ntlm.NTLMSSP_NEGOTIATE_SEAL, ntlm.NTLMSSP_NEGOTIATE_ALWAYS_SIGN):
        flags |= asked & bit
    server_challenge = os.urandom(8)
    pairs = ntlm.AV_PAIRS()
    pairs[ntlm.NTLMSSP_AV_HOSTNAME] = pairs[ntlm.NTLMSSP_AV_DNS_HOSTNAME] = "WIN-EMULATOR".encode("utf-16le")
    pairs[ntlm.NTLMSSP_AV_DOMAINNAME] = pairs[ntlm.NTLMSSP_AV_DNS_DOMAINNAME] = "WORKGROUP".encode("utf-16le")
    pairs[ntlm.NTLMSSP_AV_TIME] = struct.pack("<q", 116444736000000000 + int(time.time()) * 10000000)
    domain = "WORKGROUP".encode("utf-16le")
    message = ntlm.NTLMAuthChallenge()
    message["flags"] = flags
    message["domain_len"] = message["domain_max_len"] = len(domain)
    message["domain_offset"] = 40 + 16
    message["challenge"] = server_challenge
    message["domain_name"] = domain
    message["TargetInfoFields_len"] = message["TargetInfoFields_max_len"] = len(pairs)
    message["TargetInfoFields"] = pairs
    message["TargetInfoFields_offset"] = 40 + 16 + len(domain)
    message["Version"] = b"\xff" * 8
    message["VersionLen"] = 8
    return message.getData(), server_challenge


class Direction:
    """One direction's signing key, RC4 stream and sequence number (MS-NLMP 3.4)."""

    def __init__(self, flags, key, mode):
        self.flags = flags
        self.sign_key = ntlm.SIGNKEY(flags, key, mode)
        self.handle = ARC4.new(ntlm.SEALKEY(flags, key, mode)).encrypt
        self.seq = 0

    def mac(self, message):
        signature = ntlm.MAC(self.flags, self.handle, self.sign_key, self.seq, message)
        self.seq += 1
        return signature.getData()


class Sealing:
    """The server's side of a binding at packet privacy."""

    overhead = 16

    def __init__(self, key, flags):
        self.incoming = Direction(flags, key, "Client")
        self.outgoing = Direction(flags, key, "Server")

    def open(self, pdu):
        """A request fragment, verified then unsealed, as if unauthenticated; None
        when its verifier is missing or wrong."""
        auth_len = struct.unpack_from("<H", pdu, 10)[0]
        if auth_len != 16 or len(pdu) < 24 + 8 + 16:
            return None
        trailer_at = len(pdu) - 16 - 8
        auth_type, level, pad = pdu[trailer_at], pdu[trailer_at + 1], pdu[trailer_at + 2]
        if auth_type != RPC_C_AUTHN_WINNT or level != RPC_C_AUTHN_LEVEL_PKT_PRIVACY or trailer_at - 24 < pad:
            return None
        plain = pdu[:24] + self.incoming.handle(pdu[24:trailer_at]) + pdu[trailer_at:-16]
        if not hmac.compare_digest(self.incoming.mac(plain), pdu[-16:]):
            return None
        stub = plain[24:trailer_at - pad]
        return plain[:8] + struct.pack("<HH", 24 + len(stub), 0) + plain[12:24] + stub

    def seal(self, header24, stub):
        """A response fragment: the 24-byte header (frag_length and auth_length
        still to fill) and its stub, padded, sealed and signed."""
        pad = (4 - (24 + len(stub)) % 4) % 4
        frag_len = 24 + len(stub) + pad + 8 + 16
        head = header24[:8] + struct.pack("<HH", frag_len, 16) + header24[12:24]
        trailer = struct.pack("<BBBBI", RPC_C_AUTHN_WINNT, RPC_C_AUTHN_LEVEL_PKT_PRIVACY, pad, 0, 79231)
        body = stub + b"\x00" * pad
        signed = head + body + trailer
        sealed = self.outgoing.handle(body)
        return head + sealed + trailer + self.outgoing.mac(signed)


class KerberosSealing:
    """The server's side of a Kerberos binding at packet privacy (krbauth.Wrap in
    the PDU: verifier = wrap token header and the rotated head of the ciphertext)."""

    overhead = 16 + 28 + 15 + 16

    def __init__(self, context, auth_type, ctx_id, level, header_sign):
        self.wrap = krbauth.Wrap(context)
        self.mic = krbauth.Mic(context)
        self.auth_type, self.ctx_id, self.level = auth_type, ctx_id, level
        self.header_sign = header_sign

    def open(self, pdu):
        auth_len = struct.unpack_from("<H", pdu, 10)[0]
        trailer_at = len(pdu) - auth_len - 8
        if auth_len < 16 or trailer_at < 24:
            return None
        auth_type, level, pad = pdu[trailer_at], pdu[trailer_at + 1], pdu[trailer_at + 2]
        if auth_type != self.auth_type or level != self.level:
            return None
        if level == RPC_C_AUTHN_LEVEL_PKT_PRIVACY:
            plain = self.wrap.open(pdu[-auth_len:], pdu[24:trailer_at], pdu[:24] if self.header_sign else b"",
                                   pdu[trailer_at:trailer_at + 8] if self.header_sign else b"")
        else:
            plain = pdu[24:trailer_at]
            if not self.mic.verify(pdu[-auth_len:], [plain, pdu[:-auth_len]]):
                plain = None
        if plain is None or len(plain) < pad:
            return None
        stub = plain[:len(plain) - pad]
        return pdu[:8] + struct.pack("<HH", 24 + len(stub), 0) + pdu[12:24] + stub

    def seal(self, header24, stub):
        # Windows pads Kerberos-protected stubs to 16 bytes (the cipher's block).
        pad = (16 - len(stub) % 16) % 16
        body = stub + b"\x00" * pad
        verifier_len = 60 if self.level == RPC_C_AUTHN_LEVEL_PKT_PRIVACY else 28
        frag_len = 24 + len(body) + 8 + verifier_len
        head = header24[:8] + struct.pack("<HH", frag_len, verifier_len) + header24[12:24]
        trailer = struct.pack("<BBBBI", self.auth_type, self.level, pad, 0, self.ctx_id)
        if self.level == RPC_C_AUTHN_LEVEL_PKT_PRIVACY:
            if self.header_sign:
                body, verifier = self.wrap.seal(body, head, trailer)
            else:
                body, verifier = self.wrap.seal(body)
        else:
            verifier = self.mic.sign(head + body + trailer if self.header_sign else body)
        return head + body + trailer + verifier


def kerberos_bind(state, trailer, token, ack, log, knobs, pipe):
    """A BIND with RPC_C_AUTHN_GSS_KERBEROS (a GSS AP-REQ) or _NEGOTIATE (the
    AP-REQ in SPNEGO): the BIND_ACK with the AP-REP, or a BIND_NAK."""
    auth_type, level = trailer[0], trailer[1]
    ctx_id = struct.unpack_from("<I", trailer, 4)[0]
    state["level"] = level
    mech = None
    found = None
    init = None
    try:
        if auth_type == RPC_C_AUTHN_GSS_NEGOTIATE and token[:1] == b"\x60" and \
                krbauth.gss_unframe(token)[0] not in (krbauth.OID_KRB5_DER, krbauth.OID_MS_KRB5_DER):
            init = SPNEGO_NegTokenInit(token)
            mech = init["MechTypes"][0] if init["MechTypes"] else None
            found = krbauth.ap_req_of(init["MechToken"])
        else:
            found = krbauth.ap_req_of(token)
    except Exception:
        found = None
    call_id = struct.unpack_from("<I", ack, 12)[0]
    if knobs.kerberos is None or found is None:
        log("RPC-AUTH-FAILED %s auth_type %d without a Kerberos AP-REQ the emulator can take" % (pipe, auth_type))
        state["refused"] = True
        return bind_nak(call_id)
    try:
        context = knobs.kerberos.accept(found[0])
    except krbauth.Refused as refused:
        log("KRB-REFUSED rpc %s %s %s" % (pipe, refused.error, refused.why))
        state["refused"] = True
        return bind_nak(call_id)
    if context.ap_rep is None:
        log("KRB-REFUSED rpc %s no mutual authentication asked (DCE style needs it)" % pipe)
        state["refused"] = True
        return bind_nak(call_id)
    dce = bool(context.flags & krbauth.GSS_C_DCE_STYLE)
    # DCE style: the AP-REP bare and a third leg to come; else GSS-framed, done.
    rep = context.ap_rep if dce else krbauth.gss_frame(krbauth.OID_KRB5_DER, krbauth.TOK_AP_REP, context.ap_rep)
    if auth_type == RPC_C_AUTHN_GSS_NEGOTIATE:
        answer = SPNEGO_NegTokenResp()
        answer["NegState"] = b"\x01" if dce else b"\x00"
        answer["SupportedMech"] = mech or TypesMech["MS KRB5 - Microsoft Kerberos 5"]
        answer["ResponseToken"] = rep
        value = answer.getData()
    else:
        value = rep
    state["kerberos"] = {"auth_type": auth_type, "ctx_id": ctx_id, "context": context, "third_leg": not dce,
                         "mech_types": krbauth.mech_type_list(init["MechTypes"]) if mech else None,
                         "client_mic": False}
    if level in (RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, RPC_C_AUTHN_LEVEL_PKT_PRIVACY):
        state["sealing"] = KerberosSealing(context, auth_type, ctx_id, level, state.get("header_sign", False))
    log("KRB-OK rpc %s client=%s spn=%s level=%d dce_style=%s auth_type=%d" % (
        pipe, context.client, context.spn, level, dce, auth_type))
    pad = (4 - len(ack) % 4) % 4
    out_trailer = struct.pack("<BBBBI", auth_type, level, pad, 0, ctx_id)
    ack = ack + b"\x00" * pad + out_trailer + value
    return ack[:8] + struct.pack("<HH", len(ack), len(value)) + ack[12:]


def kerberos_third_leg(state, token, log, pipe):
    """The DCE-style client's AP-REP (AUTH3 or ALTER_CONTEXT); requests before it
    are refused."""
    kerberos = state["kerberos"]
    rep, mic = token, None
    if kerberos["auth_type"] == RPC_C_AUTHN_GSS_NEGOTIATE and token[:1] == b"\xa1":
        fields = krbauth.parse_neg_token_resp(token)
        rep, mic = fields.get("token", b""), fields.get("mic")
    try:
        krbauth.third_leg(kerberos["context"], rep)
        if mic is not None:
            # SPNEGO's mechListMIC over the client's mech list (RFC 4178 5), under the
            # context key: it takes a sequence number like any MIC token.
            if kerberos["mech_types"] is None or \
                    not krbauth.Mic(kerberos["context"]).verify(mic, [kerberos["mech_types"]]):
                raise krbauth.Refused("KRB_AP_ERR_MODIFIED", "mechListMIC of %s does not verify"
                                      % kerberos["context"].client)
            kerberos["client_mic"] = True
    except krbauth.Refused as refused:
        log("KRB-REFUSED rpc %s %s %s" % (pipe, refused.error, refused.why))
        state["refused"] = True
        return
    kerberos["third_leg"] = True
    log("KRB-THIRD-LEG rpc %s client=%s mechListMIC=%s" % (pipe, kerberos["context"].client, kerberos["client_mic"]))


def bind_nak(call_id):
    """BIND_NAK (C706 12.6.4.4), reason not specified, no versions: a failed
    authentication."""
    return struct.pack("<BBBBIHHIHB", 5, 0, MSRPC_BIND_NAK, PFC_FIRST_FRAG | PFC_LAST_FRAG, 0x10, 19, 0, call_id,
                       0, 0)


def fault(call_id, status):
    return struct.pack("<BBBBIHHIIHBBII", 5, 0, MSRPC_FAULT, PFC_FIRST_FRAG | PFC_LAST_FRAG, 0x10, 32, 0, call_id,
                       0, 0, 0, 0, status, 0)


class Captured:
    def __init__(self):
        self.data = b""

    def send(self, data):
        self.data += data


# Each pipe's binding state, for hostile answers that must still be validly
# sealed (emulator.py's hostile-rpc mode): a hostile server holds the keys too.
BINDINGS = {}


def sealed_answer(pipe, flags, call_id, stub, alloc_hint):
    """A response fragment sealed and signed on `pipe`'s current private binding,
    or None when it has none."""
    sealing = BINDINGS.get(pipe, {}).get("sealing")
    if sealing is None:
        return None
    header = struct.pack("<BBBBIHHIIHBB", 5, 0, MSRPC_RESPONSE, flags, 0x10, 0, 0, call_id, alloc_hint, 0, 0, 0)
    return sealing.seal(header, stub)


def protect(rpc, log, knobs, pipe, require_privacy):
    """Give a DCERPCServer (emulator.py's Svcctl or Atsvc) Windows' RPC security:
    its bind, request and send are wrapped on the instance."""
    state = BINDINGS.setdefault(pipe, {})
    original_process = rpc.processRequest
    original_send = rpc.send

    def recv_fragment():
        data = b""
        while len(data) < 16:
            more = rpc._clientSock.recv(16 - len(data))
            if not more:
                return None
            data += more
        frag_len = struct.unpack_from("<H", data, 8)[0]
        while len(data) < frag_len:
            more = rpc._clientSock.recv(frag_len - len(data))
            if not more:
                return None
            data += more
        return data

    def recv():
        """A whole request, its fragments verified, unsealed and joined (impacket's
        own recv keeps only the last fragment)."""
        stubs, first = [], None
        while True:
            pdu = recv_fragment()
            if pdu is None:
                return None
            kind = pdu[2]
            if kind != MSRPC_REQUEST:
                return pdu
            sealing = state.get("sealing")
            if struct.unpack_from("<H", pdu, 10)[0]:
                opened = sealing.open(pdu) if sealing else None
                if opened is None:
                    log("RPC-SIGNATURE-BAD %s call %d" % (pipe, struct.unpack_from("<I", pdu, 12)[0]))
                    state["bad"] = True
                    opened = pdu[:8] + struct.pack("<HH", 24, 0) + pdu[12:24]
                pdu = opened
            elif sealing:
                log("RPC-SIGNATURE-BAD %s unsigned request on a private binding" % pipe)
                state["bad"] = True
            first = first or pdu
            stubs.append(pdu[24:])
            if pdu[3] & PFC_LAST_FRAG:
                stub = b"".join(stubs)
                return first[:3] + bytes([PFC_FIRST_FRAG | PFC_LAST_FRAG]) + first[4:8] \
                    + struct.pack("<HH", 24 + len(stub), 0) + first[12:24] + stub

    def bind(data):
        state.clear()
        # impacket's BIND_ACK echoes the bind's flags, PFC_SUPPORT_HEADER_SIGN too.
        state["header_sign"] = bool(data[3] & PFC_SUPPORT_HEADER_SIGN)
        auth_len = struct.unpack_from("<H", data, 10)[0]
        plain = data
        if auth_len:
            token = data[-auth_len:]
            trailer = data[-auth_len - 8:-auth_len]
            plain = data[:-auth_len - 8]
            plain = plain[:8] + struct.pack("<HH", len(plain), 0) + plain[12:]
            state["level"] = trailer[1] if trailer[0] == RPC_C_AUTHN_WINNT else 0
            state["negotiate"] = token
        saved, rpc._clientSock = rpc._clientSock, Captured()
        try:
            original_process(plain)
            ack = rpc._clientSock.data
        finally:
            rpc._clientSock = saved
        if auth_len and trailer[0] in (RPC_C_AUTHN_GSS_NEGOTIATE, RPC_C_AUTHN_GSS_KERBEROS):
            ack = kerberos_bind(state, trailer, token, ack, log, knobs, pipe)
        elif auth_len and state["level"]:
            challenge, server_challenge = challenge_message(state["negotiate"])
            state["challenge"], state["server_challenge"] = challenge, server_challenge
            pad = (4 - len(ack) % 4) % 4
            trailer = struct.pack("<BBBBI", RPC_C_AUTHN_WINNT, state["level"], pad, 0, 79231)
            ack = ack + b"\x00" * pad + trailer + challenge
            ack = ack[:8] + struct.pack("<HH", len(ack), len(challenge)) + ack[12:]
        log("RPC-BIND %s level=%d" % (pipe, state.get("level", 0)))
        rpc._clientSock.send(ack)

    def auth3(data):
        auth_len = struct.unpack_from("<H", data, 10)[0]
        if "kerberos" in state:
            kerberos_third_leg(state, data[-auth_len:] if auth_len else b"", log, pipe)
            return
        if not auth_len or "challenge" not in state:
            log("RPC-AUTH-FAILED %s AUTH3 without a bind challenge" % pipe)
            return
        outcome = verify_authenticate(knobs, state["negotiate"], state["challenge"], state["server_challenge"],
                                      data[-auth_len:])
        if outcome.status != STATUS_SUCCESS:
            tag = "TARGET-NAME-REFUSED" if outcome.status == STATUS_ACCESS_DENIED else "RPC-AUTH-FAILED"
            log("%s %s %s" % (tag, pipe, outcome.line()))
            state["refused"] = True
            return
        needed = ntlm.NTLMSSP_NEGOTIATE_SEAL | ntlm.NTLMSSP_NEGOTIATE_SIGN | ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
        if state["level"] == RPC_C_AUTHN_LEVEL_PKT_PRIVACY and outcome.flags & needed == needed:
            state["sealing"] = Sealing(outcome.key, outcome.flags)
        log("RPC-AUTH %s level=%d %s" % (pipe, state["level"], outcome.line()))

    def process(data):
        kind = data[2]
        if kind == MSRPC_BIND:
            bind(data)
            return None
        if kind == MSRPC_AUTH3:
            auth3(data)
            return None
        if kind == MSRPC_ALTERCTX and "kerberos" in state:
            alter_context(data)
            return None
        call_id = struct.unpack_from("<I", data, 12)[0]
        if kind == MSRPC_REQUEST:
            if state.get("kerberos") and not state["kerberos"]["third_leg"]:
                log("RPC-REFUSED %s call %d: Kerberos context not complete (no third leg)" % (pipe, call_id))
                return Raw(fault(call_id, NCA_S_FAULT_ACCESS_DENIED))
            if state.pop("bad", False) or state.get("refused"):
                return Raw(fault(call_id, NCA_S_FAULT_ACCESS_DENIED))
            if require_privacy and ("sealing" not in state or state.get("level") != RPC_C_AUTHN_LEVEL_PKT_PRIVACY):
                log("RPC-REFUSED %s call %d: binding below packet privacy" % (pipe, call_id))
                return Raw(fault(call_id, NCA_S_FAULT_ACCESS_DENIED))
        return original_process(data)

    def alter_context(data):
        """The DCE-style third leg in an ALTER_CONTEXT (impacket sends it so):
        answered by an ALTER_CONTEXT_RESP, SPNEGO accept-completed for type 9."""
        auth_len = struct.unpack_from("<H", data, 10)[0]
        token = data[-auth_len:] if auth_len else b""
        kerberos_third_leg(state, token, log, pipe)
        plain = data[:-auth_len - 8] if auth_len else data
        plain = plain[:2] + bytes([MSRPC_BIND]) + plain[3:8] + struct.pack("<HH", len(plain), 0) + plain[12:]
        saved, rpc._clientSock = rpc._clientSock, Captured()
        try:
            original_process(plain)
            ack = rpc._clientSock.data
        finally:
            rpc._clientSock = saved
        ack = ack[:2] + bytes([MSRPC_ALTERCTX_R]) + ack[3:]
        kerberos = state["kerberos"]
        if kerberos["auth_type"] == RPC_C_AUTHN_GSS_NEGOTIATE:
            # accept-completed, with the acceptor's mechListMIC when the client sent
            # one (signed with sequence number 0, as Windows does).
            mic = None
            if kerberos["client_mic"]:
                mic = krbauth.Mic(kerberos["context"]).sign(kerberos["mech_types"], seq=0)
            value = krbauth.neg_token_resp(state=0, mic=mic)
            pad = (4 - len(ack) % 4) % 4
            trailer = struct.pack("<BBBBI", RPC_C_AUTHN_GSS_NEGOTIATE, state["level"], pad, 0,
                                  state["kerberos"]["ctx_id"])
            ack = ack + b"\x00" * pad + trailer + value
            ack = ack[:8] + struct.pack("<HH", len(ack), len(value)) + ack[12:]
        rpc._clientSock.send(ack)

    def send(answer):
        if isinstance(answer, Raw):
            rpc._clientSock.send(answer.data)
            return
        sealing = state.get("sealing")
        if sealing is None or answer["type"] != MSRPC_RESPONSE:
            return original_send(answer)
        stub = answer["pduData"]
        stub = stub.getData() if hasattr(stub, "getData") else bytes(stub)
        answer["alloc_hint"] = len(stub)
        room = 4280 - 24 - 8 - sealing.overhead - 4
        pieces = [stub[i:i + room] for i in range(0, len(stub), room)] or [b""]
        for n, piece in enumerate(pieces):
            answer["flags"] = (PFC_FIRST_FRAG if n == 0 else 0) | (PFC_LAST_FRAG if n == len(pieces) - 1 else 0)
            answer["pduData"] = b""
            header = answer.getData()[:24]
            sealed = sealing.seal(header, piece)
            if knobs.bad_signature:
                sealed = sealed[:-5] + bytes([sealed[-5] ^ 0x01]) + sealed[-4:]
            rpc._clientSock.send(sealed)

    def said_why(call):
        """impacket's server loop drops the pipe on an exception; log why first."""
        def wrapped(*args):
            try:
                return call(*args)
            except Exception:
                import traceback
                log("RPCAUTH-ERROR " + traceback.format_exc().replace("\n", " | "))
                raise
        return wrapped

    rpc.recv = said_why(recv)
    rpc.processRequest = said_why(process)
    rpc.send = said_why(send)


class Raw:
    """Bytes to send as they are (a fault built here)."""

    def __init__(self, data):
        self.data = data


def ntlm_token(blob):
    """The NTLM message in a SESSION_SETUP's security blob (SPNEGO or raw)."""
    if blob.startswith(b"NTLMSSP\x00"):
        return blob
    try:
        if blob[:1] == b"\x60":
            return SPNEGO_NegTokenInit(blob)["MechToken"]
        return SPNEGO_NegTokenResp(blob)["ResponseToken"]
    except Exception:
        return None


def kerberos_token(blob):
    """(AP-REQ, the mech OID the client named) when a SESSION_SETUP's security
    blob carries a Kerberos AP-REQ (SPNEGO NegTokenInit or a bare GSS token)."""
    try:
        if blob[:1] == b"\x60" and krbauth.gss_unframe(blob) is not None \
                and krbauth.gss_unframe(blob)[0] in (krbauth.OID_KRB5_DER, krbauth.OID_MS_KRB5_DER):
            found = krbauth.ap_req_of(blob)
            return (found[0], None) if found else None
        if blob[:1] != b"\x60":
            return None
        init = SPNEGO_NegTokenInit(blob)
        found = krbauth.ap_req_of(init["MechToken"])
        if found is None:
            return None
        mechs = init["MechTypes"]
        return found[0], mechs[0] if mechs else None
    except Exception:
        return None


def kerberos_logon(connId, smbServer, kerberos, log, knobs):
    """A one-leg Kerberos SESSION_SETUP (MS-SMB2 3.3.5.5.3): the AP-REQ checked,
    an AP-REP back, the session keyed with the context key's first 16 bytes."""
    ap_req, mech = kerberos
    connData = smbServer.getConnectionData(connId, checkStatus=False)
    acceptor = knobs.kerberos
    try:
        context = acceptor.accept(ap_req)
    except krbauth.Refused as refused:
        log("KRB-REFUSED smb %s %s" % (refused.error, refused.why))
        status = STATUS_TIME_DIFFERENCE_AT_DC if refused.error == "KRB_AP_ERR_SKEW" else STATUS_LOGON_FAILURE
        return [smb2.SMB2Error()], None, status
    answer = SPNEGO_NegTokenResp()
    answer["NegState"] = b"\x00"  # accept-completed
    answer["SupportedMech"] = mech or TypesMech["MS KRB5 - Microsoft Kerberos 5"]
    if context.ap_rep is not None:
        answer["ResponseToken"] = krbauth.gss_frame(krbauth.OID_KRB5_DER, krbauth.TOK_AP_REP, context.ap_rep)
    data = answer.getData()
    if mech is None:  # a bare GSS token gets a bare one back
        data = answer["ResponseToken"] if context.ap_rep is not None else b""
    response = smb2.SMB2SessionSetup_Response()
    response["SecurityBufferOffset"] = 0x48
    response["SecurityBufferLength"] = len(data)
    response["Buffer"] = data
    if not connData.get("Uid"):
        connData["Uid"] = random.randint(1, 0xFFFFFFFF)
    connData["SignatureEnabled"] = True
    connData["SigningSessionKey"] = context.smb_session_key()
    connData["SignSequenceNumber"] = 1
    connData["Authenticated"] = True
    user, _, realm = context.client.partition("@")
    connData["user_name"], connData["user_domain_name"] = user, realm
    smbServer.setConnectionData(connId, connData)
    log("KRB-OK smb client=%s spn=%s mutual=%s acceptor_subkey=%s etype=%d" % (
        context.client, context.spn, context.mutual, context.acceptor_subkey, context.key.enctype))
    return [response], None, STATUS_SUCCESS


def guard_logons(server, log, knobs):
    """SMB SESSION_SETUP as Windows checks it, before impacket's own handler:
    injected statuses, target name hardening, the MIC."""
    original = server.hookSmb2Command(smb2.SMB2_SESSION_SETUP, None)
    negotiates = {}

    def setup(connId, smbServer, recvPacket):
        request = smb2.SMB2SessionSetup(recvPacket["Data"])
        kerberos = kerberos_token(request["Buffer"])
        if kerberos is not None and knobs.kerberos is not None:
            return kerberos_logon(connId, smbServer, kerberos, log, knobs)
        token = ntlm_token(request["Buffer"])
        kind = struct.unpack_from("<I", token, 8)[0] if token and len(token) >= 12 else 0
        if kind == 1:
            negotiates[connId] = token
        elif kind == 3:
            connection = smbServer.getConnectionData(connId, checkStatus=False)
            challenge = connection.get("CHALLENGE_MESSAGE")
            if challenge is not None:
                outcome = verify_authenticate(knobs, negotiates.get(connId), challenge.getData(),
                                              challenge["challenge"], token)
                if outcome.status != STATUS_SUCCESS:
                    tag = {STATUS_ACCESS_DENIED: "TARGET-NAME-REFUSED"}.get(outcome.status, "LOGON-REFUSED")
                    log("%s smb %s" % (tag, outcome.line()))
                    return [smb2.SMB2Error()], None, outcome.status
                log("NTLM-OK smb %s" % outcome.line())
        return original(connId, smbServer, recvPacket)

    server.hookSmb2Command(smb2.SMB2_SESSION_SETUP, setup)


def advertise_kerberos(server):
    """The NEGOTIATE answer's SPNEGO hint lists the Kerberos mechs first, as a
    domain member's does (MS KRB5, KRB5, then NTLMSSP)."""
    original = server.hookSmb2Command(smb2.SMB2_NEGOTIATE, None)

    def negotiate(*args):
        commands, packets, status = original(*args)
        for packet in packets or []:
            answer = packet["Data"]
            hint = SPNEGO_NegTokenInit()
            hint["MechTypes"] = [TypesMech["MS KRB5 - Microsoft Kerberos 5"], TypesMech["KRB5 - Kerberos 5"],
                                 TypesMech["NTLMSSP - Microsoft NTLM Security Support Provider"]]
            answer["Buffer"] = hint.getData()
            answer["SecurityBufferLength"] = len(answer["Buffer"])
        return commands, packets, status

    server.hookSmb2Command(smb2.SMB2_NEGOTIATE, negotiate)


def install(smb_server, simple_server, svcctl, atsvc, log, password, listen_address):
    """Everything above, on one emulator; accounts added to impacket's SMB server."""
    knobs = Knobs(password, listen_address)
    nthash = ntlm.compute_nthash(password).hex()
    for n, name in enumerate(sorted(set(knobs.passwords) | set(knobs.statuses))):
        if name != "administrator":
            simple_server.addCredential(name, 1000 + n, "aad3b435b51404eeaad3b435b51404ee", nthash)
    guard_logons(smb_server, log, knobs)
    if knobs.kerberos is not None:
        advertise_kerberos(smb_server)
    protect(svcctl, log, knobs, "svcctl", require_privacy=False)
    protect(atsvc, log, knobs, "atsvc", require_privacy=True)
