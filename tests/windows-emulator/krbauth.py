"""Kerberos as a Windows server accepts it, for the Windows host EMULATOR
(emulator.py, through rpcauth.py). It is not Windows; it checks what a Windows
server checks where a client can be seen to get it wrong.

Switched on by EMULATOR_KEYTAB=/path/keytab (the host's machine account keys, e.g.
from `samba-tool domain exportkeytab KEYTAB --principal='win1$'`), with
EMULATOR_SPN_HOST=win1.example.test (the host name in the SPNs the emulator
answers to: cifs/<it> and host/<it>; several, comma-separated, when one account's
keys serve many emulators) and EMULATOR_REALM=EXAMPLE.TEST.

- An AP-REQ (RFC 4120 5.5.1, in a GSS initial context token, RFC 4121 4.1, with
  mech OID 1.2.840.113554.1.2.2 or Microsoft's 1.2.840.48018.1.2.2, or bare as
  DCE style sends it; inside SPNEGO or not) is accepted when: its ticket decrypts
  with the keytab key of its etype (that kvno's, else the newest; else
  KRB_AP_ERR_MODIFIED, as a ticket for another account is), the ticket's sname is
  cifs/<host> or host/<host> in the realm (else KRB_AP_ERR_NOT_US), the ticket is
  valid now (else KRB_AP_ERR_TKT_EXPIRED / TKT_NYV), the authenticator decrypts
  with the ticket's session key and names the ticket's client (else
  KRB_AP_ERR_BADMATCH), its ctime is within 5 minutes of the emulator's clock
  (else KRB_AP_ERR_SKEW) and it was not seen before (else KRB_AP_ERR_REPEAT).
- With mutual-required, the answer is an AP-REP. As Windows does with AES, it
  carries a fresh ACCEPTOR SUBKEY of the authenticator subkey's etype (or the
  ticket session key's when the authenticator has none), and the seq-number the
  authenticator had. The context's key is the acceptor subkey; without
  mutual-required (no AP-REP), the authenticator subkey, else the ticket session
  key. SMB's Session.SessionKey is its first 16 bytes (MS-SMB2 3.3.5.5.3).
- DCE/RPC (auth_type 16 RPC_C_AUTHN_GSS_KERBEROS, 9 RPC_C_AUTHN_GSS_NEGOTIATE):
  DCE style (GSS_C_DCE_STYLE, MS-KILE 3.4.5): mutual authentication is required,
  the AP-REP in the BIND_ACK is bare (no GSS framing; in a NegTokenResp
  accept-incomplete for type 9), the client's third leg is an AP-REP encrypted
  with the ticket session key carrying the acceptor's seq-number, in an AUTH3 or
  an ALTER_CONTEXT; for type 9 a mechListMIC beside it is verified and answered
  with the acceptor's (sequence number 0, as Windows) in the ALTER_CONTEXT_RESP.
  Requests and responses are RFC 4121 wrap tokens (AES) at packet privacy: the
  verifier is the 16-byte token header followed by the first RRC+EC+16 bytes of
  the rotated ciphertext, the stub holds the rest; RRC=28, rotation by RRC+EC (as
  Windows); requests use key usage 24 (initiator seal), responses 22 with
  SentByAcceptor, both with AcceptorSubkey set. At packet integrity they are MIC
  tokens (usages 25/23). Wrap and MIC tokens share one sequence number per
  direction, starting at the authenticator's seq-number. Header signing
  (PFC_SUPPORT_HEADER_SIGN in the bind, echoed in the BIND_ACK) puts the PDU
  header and sec_trailer under the checksum (see Wrap).

Every acceptance is logged KRB-OK (with the client principal and the SPN), every
refusal KRB-REFUSED with the Kerberos error name, for the tests to check.
"""

import datetime
import hmac
import os
import struct
import threading

from Cryptodome.Hash import HMAC
from pyasn1.codec.der import decoder, encoder
from pyasn1.type.univ import noValue

from impacket.krb5 import constants
from impacket.krb5.asn1 import AP_REP, AP_REQ, Authenticator, EncAPRepPart, EncTicketPart
from impacket.krb5.crypto import InvalidChecksum, Key, _SHA1AES128, _SHA1AES256, _enctype_table
from impacket.krb5.keytab import Keytab
from impacket.krb5.types import KerberosTime

OID_KRB5 = "1.2.840.113554.1.2.2"
OID_MS_KRB5 = "1.2.840.48018.1.2.2"
OID_KRB5_DER = b"\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"
OID_MS_KRB5_DER = b"\x06\x09\x2a\x86\x48\x82\xf7\x12\x01\x02\x02"
TOK_AP_REQ = b"\x01\x00"
TOK_AP_REP = b"\x02\x00"

SKEW = datetime.timedelta(minutes=5)
GSS_C_MUTUAL_FLAG = 2
GSS_C_DCE_STYLE = 0x1000
CKSUM_GSSAPI = 0x8003

# RFC 4121 key usages.
KG_USAGE_ACCEPTOR_SEAL = 22
KG_USAGE_ACCEPTOR_SIGN = 23
KG_USAGE_INITIATOR_SEAL = 24
KG_USAGE_INITIATOR_SIGN = 25
CHECKSUMS = {17: _SHA1AES128, 18: _SHA1AES256}
FLAG_SENT_BY_ACCEPTOR = 1
FLAG_SEALED = 2
FLAG_ACCEPTOR_SUBKEY = 4



def der_length(n):
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def gss_frame(oid_der, token_id, body):
    """An RFC 2743 3.1 InitialContextToken-style frame."""
    inner = oid_der + token_id + body
    return b"\x60" + der_length(len(inner)) + inner


def gss_unframe(token):
    """(oid_der, token_id, body) of a framed token, or None when it is bare."""
    if token[:1] != b"\x60" or len(token) < 2:
        return None
    at = 1
    first = token[at]
    at += 1
    if first & 0x80:
        count = first & 0x7F
        at += count
    if token[at:at + 1] != b"\x06" or at + 2 > len(token):
        return None
    oid_len = token[at + 1]
    oid_der = token[at:at + 2 + oid_len]
    at += 2 + oid_len
    return oid_der, token[at:at + 2], token[at + 2:]


def der_tlv(tag, value):
    return bytes([tag]) + der_length(len(value)) + value


def der_children(data):
    """[(tag, value)] of the DER TLVs in `data`."""
    out, at = [], 0
    while at + 2 <= len(data):
        tag, first = data[at], data[at + 1]
        at += 2
        if first & 0x80:
            count = first & 0x7F
            length = int.from_bytes(data[at:at + count], "big")
            at += count
        else:
            length = first
        out.append((tag, data[at:at + length]))
        at += length
    return out


def neg_token_resp(state=None, mech=None, token=None, mic=None):
    """An SPNEGO NegTokenResp (RFC 4178 4.2.2), with a mechListMIC when given
    (impacket's SPNEGO_NegTokenResp has no room for one)."""
    fields = b""
    if state is not None:
        fields += der_tlv(0xA0, der_tlv(0x0A, bytes([state])))
    if mech is not None:
        fields += der_tlv(0xA1, der_tlv(0x06, mech))
    if token is not None:
        fields += der_tlv(0xA2, der_tlv(0x04, token))
    if mic is not None:
        fields += der_tlv(0xA3, der_tlv(0x04, mic))
    return der_tlv(0xA1, der_tlv(0x30, fields))


def parse_neg_token_resp(data):
    """{'state', 'mech', 'token', 'mic'} of a NegTokenResp (missing ones absent)."""
    out = {}
    for tag, value in der_children(data):
        if tag != 0xA1:
            continue
        for seq_tag, seq in der_children(value):
            if seq_tag != 0x30:
                continue
            for field, inner in der_children(seq):
                children = der_children(inner)
                if not children:
                    continue
                name = {0xA0: "state", 0xA1: "mech", 0xA2: "token", 0xA3: "mic"}.get(field)
                if name:
                    out[name] = children[0][1]
    return out


def mech_type_list(mechs):
    """The DER MechTypeList a mechListMIC covers, from the OIDs' contents."""
    return der_tlv(0x30, b"".join(der_tlv(0x06, m) for m in mechs))


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def principal_text(name_asn1, realm):
    parts = [str(c) for c in name_asn1["name-string"]]
    return "/".join(parts) + "@" + str(realm)


class Refused(Exception):
    def __init__(self, error, why):
        Exception.__init__(self, why)
        self.error, self.why = error, why


class Context:
    """An accepted security context."""

    def __init__(self, client, spn, key, cipher, flags, seq, mutual, ticket_key, subkey_from_acceptor):
        self.client, self.spn = client, spn
        self.key, self.cipher = key, cipher
        self.flags, self.seq, self.mutual = flags, seq, mutual
        self.ticket_key = ticket_key
        self.acceptor_subkey = subkey_from_acceptor
        self.ap_rep = None
        # One sequence number per direction for every per-message token (wrap or
        # MIC, RFC 4121 4.2.6): both start at the authenticator's seq-number.
        self.incoming_seq = seq
        self.outgoing_seq = seq

    def smb_session_key(self):
        return (self.key.contents + b"\x00" * 16)[:16]


class Acceptor:
    """The host's keys and the checks a Windows server makes on an AP-REQ."""

    def __init__(self, keytab_path, realm, spn_host):
        self.realm = realm.upper()
        # Several names (comma-separated) when one account's keys serve a fleet of
        # emulators: SPNs cifs/winN added to one computer account.
        self.spn_hosts = [h.strip().lower() for h in spn_host.split(",") if h.strip()]
        self.path = keytab_path
        self.stamp = None
        self.keys = {}
        self._load()
        self.seen = set()
        self.lock = threading.Lock()

    def _load(self):
        """The keytab's keys, read again whenever the file changes: a host whose
        machine password was reset has the new keys only."""
        stamp = os.stat(self.path).st_mtime_ns
        if stamp == self.stamp:
            return
        keys = {}  # (etype, kvno) -> Key ; (etype, None) -> newest
        keytab = Keytab.loadFile(self.path)
        for entry in keytab.entries:
            if entry.deleted:
                continue
            block = entry.main_part["keyblock"]
            etype = block["keytype"]
            key = Key(etype, block["keyvalue"]["data"])
            keys[(etype, entry.kvno)] = key
            newest = keys.get(("kvno", etype), -1)
            if entry.kvno >= newest:
                keys[("kvno", etype)] = entry.kvno
                keys[(etype, None)] = key
        if not keys:
            raise ValueError("no keys in %s" % self.path)
        self.keys, self.stamp = keys, stamp

    def accept(self, ap_req_bytes):
        """Verify an AP-REQ; a Context, or Refused raised."""
        with self.lock:
            self._load()
        try:
            ap_req = decoder.decode(ap_req_bytes, asn1Spec=AP_REQ())[0]
        except Exception:
            raise Refused("KRB_AP_ERR_MSG_TYPE", "not an AP-REQ")
        ticket = ap_req["ticket"]
        sname = [str(c) for c in ticket["sname"]["name-string"]]
        spn = "/".join(sname) + "@" + str(ticket["realm"])
        etype = int(ticket["enc-part"]["etype"])
        kvno = int(ticket["enc-part"]["kvno"]) if ticket["enc-part"]["kvno"].hasValue() else None
        # Like Windows: the key of that version, else the current one (a ticket for
        # another account fails to decrypt: KRB_AP_ERR_MODIFIED).
        key = self.keys.get((etype, kvno)) or self.keys.get((etype, None))
        if key is None:
            raise Refused("KRB_AP_ERR_NOKEY", "ticket for %s in etype %d, no such key" % (spn, etype))
        try:
            plain = _enctype_table[etype].decrypt(key, 2, bytes(ticket["enc-part"]["cipher"]))
        except InvalidChecksum:
            raise Refused("KRB_AP_ERR_MODIFIED", "ticket for %s does not decrypt with this host's key" % spn)
        if len(sname) != 2 or sname[0].lower() not in ("cifs", "host") or sname[1].lower() not in self.spn_hosts \
                or str(ticket["realm"]).upper() != self.realm:
            raise Refused("KRB_AP_ERR_NOT_US", "ticket for %s, this host is cifs/%s@%s" % (
                spn, ",".join(self.spn_hosts), self.realm))
        enc_ticket = decoder.decode(plain, asn1Spec=EncTicketPart())[0]
        client = principal_text(enc_ticket["cname"], enc_ticket["crealm"])
        now = now_utc()
        endtime = KerberosTime.from_asn1(enc_ticket["endtime"]).replace(tzinfo=datetime.timezone.utc)
        start_field = enc_ticket["starttime"] if enc_ticket["starttime"].hasValue() else enc_ticket["authtime"]
        starttime = KerberosTime.from_asn1(start_field).replace(tzinfo=datetime.timezone.utc)
        if endtime + SKEW < now:
            raise Refused("KRB_AP_ERR_TKT_EXPIRED", "ticket of %s expired at %s" % (client, endtime))
        if starttime - SKEW > now:
            raise Refused("KRB_AP_ERR_TKT_NYV", "ticket of %s not valid before %s" % (client, starttime))
        session_key = Key(int(enc_ticket["key"]["keytype"]), bytes(enc_ticket["key"]["keyvalue"]))
        auth_etype = int(ap_req["authenticator"]["etype"])
        try:
            auth_plain = _enctype_table[auth_etype].decrypt(session_key, 11, bytes(ap_req["authenticator"]["cipher"]))
            authenticator = decoder.decode(auth_plain, asn1Spec=Authenticator())[0]
        except Exception:
            raise Refused("KRB_AP_ERR_MODIFIED", "authenticator of %s does not decrypt with the ticket's key" % client)
        named = principal_text(authenticator["cname"], authenticator["crealm"])
        if named.lower() != client.lower():
            raise Refused("KRB_AP_ERR_BADMATCH", "authenticator names %s, ticket is for %s" % (named, client))
        ctime = KerberosTime.from_asn1(authenticator["ctime"]).replace(tzinfo=datetime.timezone.utc)
        offset = (ctime - now).total_seconds()
        if abs(offset) > SKEW.total_seconds():
            raise Refused("KRB_AP_ERR_SKEW", "client %s clock is %+d s off (more than 300)" % (client, offset))
        stamp = (client.lower(), str(authenticator["ctime"]), int(authenticator["cusec"]))
        with self.lock:
            if stamp in self.seen:
                raise Refused("KRB_AP_ERR_REPEAT", "authenticator of %s replayed" % client)
            self.seen.add(stamp)
        flags = 0
        if authenticator["cksum"].hasValue() and int(authenticator["cksum"]["cksumtype"]) == CKSUM_GSSAPI:
            value = bytes(authenticator["cksum"]["checksum"])
            if len(value) >= 24:
                flags = struct.unpack_from("<I", value, 20)[0]
        seq = int(authenticator["seq-number"]) if authenticator["seq-number"].hasValue() else 0
        options = ap_req["ap-options"].asBinary() if ap_req["ap-options"].hasValue() else ""
        mutual = len(options) > 2 and options[2] == "1"
        initiator_subkey = None
        if authenticator["subkey"].hasValue():
            initiator_subkey = Key(int(authenticator["subkey"]["keytype"]), bytes(authenticator["subkey"]["keyvalue"]))
        base = initiator_subkey or session_key
        acceptor_subkey = None
        if mutual:
            cipher = _enctype_table[base.enctype]
            if base.enctype in (17, 18):
                acceptor_subkey = cipher.random_to_key(os.urandom(cipher.seedsize))
            else:
                acceptor_subkey = base
        context_key = acceptor_subkey or base
        context = Context(client, spn, context_key, _enctype_table[context_key.enctype], flags, seq, mutual,
                          session_key, acceptor_subkey is not None and acceptor_subkey is not base)
        if mutual:
            part = EncAPRepPart()
            part["ctime"] = authenticator["ctime"].prettyPrint()
            part["cusec"] = int(authenticator["cusec"])
            part["subkey"] = noValue
            part["subkey"]["keytype"] = acceptor_subkey.enctype
            part["subkey"]["keyvalue"] = acceptor_subkey.contents
            part["seq-number"] = seq
            rep = AP_REP()
            rep["pvno"] = 5
            rep["msg-type"] = constants.ApplicationTagNumbers.AP_REP.value
            rep["enc-part"] = noValue
            rep["enc-part"]["etype"] = session_key.enctype
            rep["enc-part"]["cipher"] = _enctype_table[session_key.enctype].encrypt(
                session_key, 12, encoder.encode(part), None)
            context.ap_rep = encoder.encode(rep)
        return context


def third_leg(context, ap_rep_bytes):
    """The DCE-style client's AP-REP (MS-KILE 3.4.5.1): encrypted with the ticket
    session key, the seq-number the acceptor sent; raises Refused when it is not."""
    try:
        rep = decoder.decode(ap_rep_bytes, asn1Spec=AP_REP())[0]
        plain = _enctype_table[context.ticket_key.enctype].decrypt(
            context.ticket_key, 12, bytes(rep["enc-part"]["cipher"]))
        part = decoder.decode(plain, asn1Spec=EncAPRepPart())[0]
    except Exception:
        raise Refused("KRB_AP_ERR_MODIFIED", "third-leg AP-REP of %s does not decrypt" % context.client)
    if part["seq-number"].hasValue() and int(part["seq-number"]) != context.seq:
        raise Refused("KRB_AP_ERR_BADORDER", "third-leg AP-REP of %s has seq-number %d, expected %d" % (
            context.client, int(part["seq-number"]), context.seq))


def ap_req_of(token):
    """The AP-REQ in a GSS token (framed with either Kerberos OID) or a bare one;
    (ap_req_bytes, oid_der) or None."""
    framed = gss_unframe(token)
    if framed is None:
        return (token, OID_KRB5_DER) if token[:1] == b"\x6e" else None
    oid_der, token_id, body = framed
    if oid_der not in (OID_KRB5_DER, OID_MS_KRB5_DER) or token_id != TOK_AP_REQ:
        return None
    return body, oid_der


class Wrap:
    """RFC 4121 wrap tokens (AES) as DCE/RPC at packet privacy carries them. With
    header signing (PFC_SUPPORT_HEADER_SIGN in the bind, MS-RPCE 2.2.2.11), the
    checksum also covers the PDU header before the stub and the sec_trailer after
    it (confounder | header | stub | trailer | filler | token header), as Windows
    and sspi-rs compute it; only the stub is encrypted either way."""

    HEADER = 16

    def __init__(self, context):
        self.context = context
        self.flags = FLAG_SEALED | (FLAG_ACCEPTOR_SUBKEY if context.acceptor_subkey else 0)

    def _keys(self, usage):
        cipher = self.context.cipher
        key = self.context.key
        return cipher.derive(key, struct.pack(">IB", usage, 0xAA)), cipher.derive(key, struct.pack(">IB", usage, 0x55))

    def _mac(self, ki, data):
        cipher = self.context.cipher
        return HMAC.new(ki.contents, data, cipher.hashmod).digest()[:cipher.macsize]

    def open(self, verifier, sealed_stub, before=b"", after=b""):
        """The plaintext of a request (stub plus auth padding), or None. `before`
        and `after` are the signed-only header and trailer (header signing)."""
        if len(verifier) < self.HEADER:
            return None
        tok_id, flags, filler, ec, rrc, seq = struct.unpack(">HBBHHQ", verifier[:16])
        if tok_id != 0x0504 or filler != 0xFF or flags & FLAG_SENT_BY_ACCEPTOR or not flags & FLAG_SEALED:
            return None
        if bool(flags & FLAG_ACCEPTOR_SUBKEY) != bool(self.context.acceptor_subkey):
            return None
        if seq != self.context.incoming_seq:
            return None
        rotated = verifier[16:] + sealed_stub
        cipher = self.context.cipher
        if len(rotated) < cipher.blocksize + cipher.macsize + 16 + ec:
            return None
        shift = (rrc + ec) % len(rotated)
        ciphertext = rotated[shift:] + rotated[:shift]
        ke, ki = self._keys(KG_USAGE_INITIATOR_SEAL)
        basic = cipher.basic_decrypt(ke, bytes(ciphertext[:-cipher.macsize]))
        mac = ciphertext[-cipher.macsize:]
        confounder, plain = basic[:cipher.blocksize], basic[cipher.blocksize:]
        tail = ec + 16
        signed_headers = confounder + before + plain[:-tail] + after + plain[-tail:]
        if not (hmac.compare_digest(self._mac(ki, basic), mac)
                or (before and hmac.compare_digest(self._mac(ki, signed_headers), mac))):
            return None
        if plain[-16:] != struct.pack(">HBBHHQ", tok_id, flags, filler, ec, 0, seq):
            return None
        self.context.incoming_seq += 1
        return plain[:len(plain) - tail]

    def seal(self, data, before=None, after=None):
        """(sealed stub, verifier) of a response's stub plus auth padding; with
        header signing, `before` and `after` are the header and trailer as sent
        (the verifier's length is 60 + EC: EC is 0 for a 16-byte-aligned stub)."""
        cipher = self.context.cipher
        ec = (16 - len(data) % 16) % 16
        flags = self.flags | FLAG_SENT_BY_ACCEPTOR
        header0 = struct.pack(">HBBHHQ", 0x0504, flags, 0xFF, ec, 0, self.context.outgoing_seq)
        ke, ki = self._keys(KG_USAGE_ACCEPTOR_SEAL)
        confounder = os.urandom(cipher.blocksize)
        plain = data + b"\xff" * ec + header0
        signed = confounder + plain if before is None else confounder + before + data + after + b"\xff" * ec + header0
        ciphertext = cipher.basic_encrypt(ke, confounder + plain) + self._mac(ki, signed)
        rrc = 28
        shift = (rrc + ec) % len(ciphertext)
        rotated = ciphertext[-shift:] + ciphertext[:-shift] if shift else ciphertext
        header = struct.pack(">HBBHHQ", 0x0504, flags, 0xFF, ec, rrc, self.context.outgoing_seq)
        self.context.outgoing_seq += 1
        cut = rrc + ec + 16
        return rotated[cut:], header + rotated[:cut]


class Mic:
    """RFC 4121 4.2.6.1 MIC tokens (AES), as DCE/RPC at packet integrity carries
    them: the verifier is the 28-byte token."""

    def __init__(self, context):
        self.context = context
        self.flags = FLAG_ACCEPTOR_SUBKEY if context.acceptor_subkey else 0

    def checksum(self, usage, data, header):
        profile = CHECKSUMS.get(self.context.key.enctype)
        return profile.checksum(self.context.key, usage, data + header) if profile else None

    def verify(self, token, candidates):
        """True when `token` is the client's MIC over one of `candidates` (the stub,
        or the whole PDU when the client signs headers)."""
        if len(token) != 28 or token[:2] != b"\x04\x04" or token[3:8] != b"\xff" * 5:
            return False
        if token[2] & FLAG_SENT_BY_ACCEPTOR or struct.unpack(">Q", token[8:16])[0] != self.context.incoming_seq:
            return False
        for data in candidates:
            if self.checksum(KG_USAGE_INITIATOR_SIGN, data, token[:16]) == token[16:]:
                self.context.incoming_seq += 1
                return True
        return False

    def sign(self, data, seq=None):
        """A MIC token from the acceptor; with `seq`, that sequence number and the
        counter left alone (Windows signs SPNEGO's mechListMIC with 0)."""
        header = struct.pack(">HB5sQ", 0x0404, self.flags | FLAG_SENT_BY_ACCEPTOR, b"\xff" * 5,
                             self.context.outgoing_seq if seq is None else seq)
        if seq is None:
            self.context.outgoing_seq += 1
        return header + self.checksum(KG_USAGE_ACCEPTOR_SIGN, data, header)


def from_environment():
    """The acceptor the environment asks for, or None."""
    path = os.environ.get("EMULATOR_KEYTAB", "")
    if not path:
        return None
    realm = os.environ.get("EMULATOR_REALM", "")
    host = os.environ.get("EMULATOR_SPN_HOST", "")
    if not realm or not host:
        raise SystemExit("EMULATOR_KEYTAB needs EMULATOR_REALM and EMULATOR_SPN_HOST")
    return Acceptor(path, realm, host)
