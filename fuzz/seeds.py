#!/usr/bin/env python3
"""The hand-built seeds of fuzz/corpus/: valid messages of every kind each target
parses, so the fuzzer starts from inside the parsers rather than at their first
length check.

The SCMR and TSCH answers, the SPNEGO wrapper and the NTLM CHALLENGE are encoded by
impacket exactly as tests/windows-emulator/emulator.py answers pushinst (same
structures, same values); the SMB2 and DCE/RPC framing around them is built here,
field by field after MS-SMB2 and C706. Inventories are the repository's examples
and the shapes the inventory tests use.

Run with the emulator's venv, from the repository root:
    tests/windows-emulator/.venv/bin/python fuzz/seeds.py

It writes (and overwrites) only files named seed-*; captured traffic and crash
inputs added beside them stay.
"""

import pathlib
import struct

from Cryptodome.Cipher import AES
from impacket import ntlm, spnego
from impacket.dcerpc.v5 import scmr, tsch
from impacket.dcerpc.v5.dtypes import NULL

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
# src/transport/windows/smb/fuzz.rs: FUZZ_KEY.
FUZZ_KEY = b"pushinst-fuzzkey"
HANDLE = bytes(range(1, 21))


def write(target, name, data):
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / ("seed-" + name)).write_bytes(bytes(data))


# --- NTLM and SPNEGO ---------------------------------------------------------------


def av_pairs(timestamp):
    pairs = [(2, "CORP".encode("utf-16-le")), (1, "WS01".encode("utf-16-le")),
             (4, "corp.example".encode("utf-16-le")), (3, "ws01.corp.example".encode("utf-16-le"))]
    if timestamp:
        pairs.append((7, struct.pack("<Q", 133_500_000_000_000_000)))
    out = b"".join(struct.pack("<HH", kind, len(value)) + value for kind, value in pairs)
    return out + struct.pack("<HH", 0, 0)


def challenge(timestamp=True):
    c = ntlm.NTLMAuthChallenge()
    c["flags"] = (ntlm.NTLMSSP_NEGOTIATE_UNICODE | ntlm.NTLMSSP_REQUEST_TARGET | ntlm.NTLMSSP_NEGOTIATE_NTLM
                  | ntlm.NTLMSSP_NEGOTIATE_ALWAYS_SIGN | ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
                  | ntlm.NTLMSSP_NEGOTIATE_TARGET_INFO | ntlm.NTLMSSP_NEGOTIATE_128 | ntlm.NTLMSSP_NEGOTIATE_56
                  | ntlm.NTLMSSP_NEGOTIATE_VERSION)
    c["challenge"] = bytes(range(0x10, 0x18))
    c["domain_name"] = "CORP".encode("utf-16-le")
    c["TargetInfoFields"] = av_pairs(timestamp)
    c["Version"] = b"\x0a\x00\x7c\x4f\x00\x00\x00\x0f"
    # As impacket's SMB server lays it out: header, version, domain, target info.
    c["domain_offset"] = 56
    c["TargetInfoFields_offset"] = 56 + len(c["domain_name"])
    return c.getData()


def neg_token_resp(token):
    r = spnego.SPNEGO_NegTokenResp()
    r["NegState"] = b"\x01"
    r["SupportedMech"] = spnego.TypesMech["NTLMSSP - Microsoft NTLM Security Support Provider"]
    r["ResponseToken"] = token
    return r.getData()


# --- SMB2 --------------------------------------------------------------------------


def smb2(command, body, status=0, message_id=1, tree_id=0, session_id=0, flags=0x1, credits=1):
    header = struct.pack("<4sHHIHHIIQIIQ16s", b"\xfeSMB", 64, 1, status, command, credits, flags, 0,
                         message_id, 0xFEFF, tree_id, session_id, b"\0" * 16)
    return header + body


def negotiate_response(dialect):
    contexts = b""
    if dialect == 0x0311:
        preauth = struct.pack("<HHH", 1, 32, 1) + b"\x5a" * 32
        cipher = struct.pack("<HH", 1, 0x0002)
        contexts = struct.pack("<HHI", 1, len(preauth), 0) + preauth
        contexts += b"\0" * (-len(contexts) % 8)
        contexts += struct.pack("<HHI", 2, len(cipher), 0) + cipher
    blob = neg_token_init_hint()
    offset = 64 + 64
    context_offset = (offset + len(blob) + 7) // 8 * 8 if contexts else 0
    body = struct.pack("<HHHH16sIIIIQQHHI", 65, 0x1, dialect, 2 if contexts else 0, b"\x42" * 16,
                       0x2F, 0x800000, 0x800000, 0x800000, 133_500_000_000_000_000, 0,
                       offset, len(blob), context_offset)
    msg = smb2(0, body + blob)
    if contexts:
        msg += b"\0" * (context_offset - len(msg)) + contexts
    return msg


def neg_token_init_hint():
    init = spnego.SPNEGO_NegTokenInit()
    init["MechTypes"] = [spnego.TypesMech["NTLMSSP - Microsoft NTLM Security Support Provider"]]
    return init.getData()


def session_setup(status, flags, blob):
    return smb2(1, struct.pack("<HHHH", 9, flags, 72, len(blob)) + blob, status=status, message_id=2,
                session_id=0x0000_1000_0000_0041)


def smb_responses():
    yield "negotiate-3.1.1", negotiate_response(0x0311)
    yield "negotiate-2.1", negotiate_response(0x0210)
    yield "session-setup-challenge", session_setup(0xC0000016, 0, neg_token_resp(challenge()))
    yield "session-setup-raw-ntlmssp", session_setup(0xC0000016, 0, challenge(timestamp=False))
    yield "session-setup-done", session_setup(0, 0x4, neg_token_resp(b""))
    yield "logon-failure", smb2(1, struct.pack("<HBBI", 9, 0, 0, 0) + b"\0", status=0xC000006D)
    yield "tree-connect", smb2(3, struct.pack("<HBBIII", 16, 1, 0, 0x8000, 0, 0x1F01FF), tree_id=5)
    file_id = bytes(range(0x30, 0x40))
    create = struct.pack("<HBBIQQQQQQII", 89, 0, 0, 1, 0, 0, 0, 0, 4096, 1234, 0x80, 0) + file_id
    yield "create", smb2(5, create + struct.pack("<II", 0, 0), tree_id=5)
    yield "close", smb2(6, struct.pack("<HHI", 60, 0, 0) + b"\0" * 52, tree_id=5)
    yield "write", smb2(9, struct.pack("<HHIIHH", 17, 0, 65536, 0, 0, 0), tree_id=5)
    data = b"exit code 0\r\n"
    yield "read", smb2(8, struct.pack("<HBBIII", 17, 80, 0, len(data), 0, 0) + data, tree_id=5)
    yield "read-eof", smb2(8, struct.pack("<HBBI", 9, 0, 0, 0) + b"\0", status=0xC0000011)
    pdu = rpc_response(scmr_open_manager(), 2)
    ioctl = struct.pack("<HHI16sIIIIII", 49, 0, 0x0011C017, file_id, 112, 0, 112, len(pdu), 0, 0)
    yield "ioctl-pipe", smb2(11, ioctl + pdu, tree_id=5)
    yield "ioctl-overflow", smb2(11, ioctl + pdu[:40], status=0x80000005, tree_id=5)
    names = b""
    for i, name in enumerate([".", "..", "pushinst-r-1", "install.log"]):
        encoded = name.encode("utf-16-le")
        entry = struct.pack("<III", 0, i, len(encoded)) + encoded
        entry += b"\0" * (-len(entry) % 8)
        if name != "install.log":
            entry = struct.pack("<I", len(entry)) + entry[4:]
        names += entry
    yield "query-directory", smb2(14, struct.pack("<HHI", 9, 72, len(names)) + names, tree_id=5)
    yield "no-more-files", smb2(14, struct.pack("<HHI", 9, 0, 0) + b"\0", status=0x80000006)
    yield "pending", smb2(11, struct.pack("<HBBI", 9, 0, 0, 0) + b"\0", status=0x103, flags=0x3)
    yield "logoff", smb2(2, struct.pack("<HH", 4, 0))


def seal(msg, counter):
    nonce = struct.pack("<4sQ", b"salt", counter)
    aad = nonce + b"\0" * 4 + struct.pack("<IHHQ", len(msg), 0, 1, 0x0000_1000_0000_0041)
    cipher = AES.new(FUZZ_KEY, AES.MODE_GCM, nonce=nonce)
    cipher.update(aad)
    body, tag = cipher.encrypt_and_digest(msg)
    return b"\xfdSMB" + tag + aad + body


# --- DCE/RPC -----------------------------------------------------------------------


def rpc_header(kind, flags, frag_len, call_id, auth_len=0):
    return struct.pack("<BBBB4sHHI", 5, 0, kind, flags, b"\x10\0\0\0", frag_len, auth_len, call_id)


def rpc_response(stub, call_id, flags=0x3, alloc_hint=None):
    body = struct.pack("<IHBB", len(stub) if alloc_hint is None else alloc_hint, 0, 0, 0) + stub
    return rpc_header(2, flags, 16 + len(body), call_id) + body


def bind_ack(address=b"\\PIPE\\svcctl\0", result=0):
    body = struct.pack("<HHIH", 4280, 4280, 0x1234, len(address)) + address
    body += b"\0" * (-(16 + len(body)) % 4)
    ndr = bytes.fromhex("045d888aeb1cc9119fe808002b104860") + struct.pack("<I", 2)
    body += struct.pack("<BBHHH", 1, 0, 0, result, 0 if result == 0 else 2) + (ndr if result == 0 else b"\0" * 20)
    return rpc_header(12, 3, 16 + len(body), 1) + body


def rpc_pdus():
    yield "bind-ack", bind_ack()
    yield "bind-ack-no-address", bind_ack(b"")
    yield "bind-ack-refused", bind_ack(result=2)
    yield "bind-nak", rpc_header(13, 3, 24, 1) + struct.pack("<HBBI", 4, 1, 5, 0)
    yield "response", rpc_response(scmr_open_manager(), 2)
    stub = bytes(range(256)) * 20
    pieces = [stub[i:i + 4256] for i in range(0, len(stub), 4256)]
    frags = b"".join(rpc_response(p, 2, flags=(1 if i == 0 else 0) | (2 if i == len(pieces) - 1 else 0),
                                  alloc_hint=len(stub) - i * 4256) for i, p in enumerate(pieces))
    yield "response-three-fragments", frags
    signed = rpc_response(scmr_start_service(), 2)
    trailer = struct.pack("<BBBBI", 10, 6, 0, 0, 0) + b"\x01" * 16
    signed = signed[:8] + struct.pack("<HH", len(signed) + len(trailer), 16) + signed[12:] + trailer
    yield "response-auth-trailer", signed
    yield "fault-op-rng", rpc_header(3, 3, 32, 2) + struct.pack("<IHBBII", 0, 0, 0, 0, 0x1C010002, 0)
    yield "fault-access-denied", rpc_header(3, 3, 32, 2) + struct.pack("<IHBBII", 0, 0, 0, 0, 5, 0)


def rpc_krb_wraps():
    """Response fragments on a Kerberos binding (RPC_C_AUTHN_GSS_KERBEROS at packet
    privacy), sealed by the emulator's own wrap code (krbauth.Wrap) under a fixed
    AES-256 key, with header signing and without, and a BIND_ACK carrying an
    AP-REP-shaped token."""
    import sys
    sys.path.insert(0, str(ROOT / "tests" / "windows-emulator"))
    import krbauth
    from impacket.krb5.crypto import Key, _enctype_table

    key = Key(18, bytes(range(32)))
    for name, sign in [("response-header-signed", True), ("response", False)]:
        context = krbauth.Context("deployer@EXAMPLE.TEST", "host/win1.example.test@EXAMPLE.TEST", key,
                                  _enctype_table[18], krbauth.GSS_C_DCE_STYLE, 5, True, key, True)
        stub = scmr_open_manager()
        pad = -len(stub) % 16
        body = stub + b"\0" * pad
        verifier_len = 60
        head = rpc_header(2, 3, 24 + len(body) + 8 + verifier_len, 2, verifier_len) \
            + struct.pack("<IHBB", len(stub), 0, 0, 0)
        trailer = struct.pack("<BBBBI", 16, 6, pad, 0, 79231)
        wrap = krbauth.Wrap(context)
        sealed, verifier = wrap.seal(body, head, trailer) if sign else wrap.seal(body)
        yield name, head + sealed + trailer + verifier
    ack = bytearray(bind_ack())
    ack[3] |= 0x04
    token = bytes([0x6F, 0x20]) + bytes(range(32))
    trailer = struct.pack("<BBBBI", 16, 6, 0, 0, 79231)
    ack += trailer + token
    ack[8:12] = struct.pack("<HH", len(ack), len(token))
    yield "bind-ack-ap-rep", bytes(ack)


# --- MS-SCMR and MS-TSCH answers, as the emulator gives them -----------------------


def scmr_open_manager(code=0):
    a = scmr.ROpenSCManagerWResponse()
    a["lpScHandle"] = HANDLE if code == 0 else b"\0" * 20
    a["ErrorCode"] = code
    return a.getData()


def scmr_start_service(code=1053):
    a = scmr.RStartServiceWResponse()
    a["ErrorCode"] = code
    return a.getData()


def scmr_answers():
    yield "open-sc-manager", scmr_open_manager()
    yield "open-sc-manager-denied", scmr_open_manager(5)
    for name, code in [("create-service", 0), ("create-service-exists", 1073)]:
        a = scmr.RCreateServiceWResponse()
        a["lpdwTagId"] = NULL
        a["lpServiceHandle"] = HANDLE if code == 0 else b"\0" * 20
        a["ErrorCode"] = code
        yield name, a.getData()
    # A tag id behind the unique pointer (the emulator always sends NULL).
    yield "create-service-tag", struct.pack("<II", 0x20000, 7) + HANDLE + struct.pack("<I", 0)
    for name, code in [("open-service", 0), ("open-service-missing", 1060)]:
        a = scmr.ROpenServiceWResponse()
        a["lpServiceHandle"] = HANDLE if code == 0 else b"\0" * 20
        a["ErrorCode"] = code
        yield name, a.getData()
    yield "start-service-timeout", scmr_start_service()
    a = scmr.RDeleteServiceResponse()
    a["ErrorCode"] = 0
    yield "delete-service", a.getData()
    a = scmr.RCloseServiceHandleResponse()
    a["hSCObject"] = b"\0" * 20
    a["ErrorCode"] = 0
    yield "close-service-handle", a.getData()


def tsch_answers():
    for name, code in [("register-task", 0), ("register-task-denied", 0x80070005)]:
        a = tsch.SchRpcRegisterTaskResponse()
        a["pActualPath"] = "\\pushinst-0123456789abcdef\x00"
        a["pErrorInfo"] = NULL
        a["ErrorCode"] = code
        yield name, a.getData()
    a = tsch.SchRpcRegisterTaskResponse()
    a["pActualPath"] = NULL
    a["pErrorInfo"] = NULL
    a["ErrorCode"] = 0
    yield "register-task-no-path", a.getData()
    for name, code in [("run", 0), ("run-missing", 0x80070002)]:
        a = tsch.SchRpcRunResponse()
        a["pGuid"] = b"\x11" * 16
        a["ErrorCode"] = code
        yield name, a.getData()
    a = tsch.SchRpcDeleteResponse()
    a["ErrorCode"] = 0
    yield "delete", a.getData()


# --- Inventories -------------------------------------------------------------------

INVENTORIES = {
    "small": """\
[settings]
concurrency = 4

[credentials.deploy]
user = "deploy"
password = { env = "DEPLOY_PW" }

[packages.agent]
linux = { file = "install.sh" }
windows = { file = "AgentSetup.exe", args = "/quiet" }

[groups.web]
hosts = ["web[01-03].example.com", "10.0.0.0/30", "[::1]:2222"]
os = "linux"
credentials = ["deploy"]

[[hosts]]
name = "web02.example.com"
port = 2200
""",
    "typos": """\
[setings]
concurency = "four"

[credentials.deploy]
user = "deploy"
pasword = "inline"

[groups.web]
hosts = ["web[03-01]", "bad host", "10.0.0.0/8"]
os = "solaris"
credentials = ["deplyo"]
""",
    "syntax-error": "[groups.web\nhosts = [\"a\", \n",
}


def main():
    for name, data in smb_responses():
        write("smb_response", name, data)
        write("smb_transform", name, seal(data, len(name)))
    write("smb_transform", "tampered", bytearray(seal(b"\xfeSMB" + b"\0" * 60, 1))[:-1] + b"\xff")
    for name, data in [("challenge", challenge()), ("challenge-no-timestamp", challenge(False))]:
        write("ntlm_challenge", name, data)
    write("spnego", "neg-token-resp", neg_token_resp(challenge()))
    write("spnego", "raw-ntlmssp", challenge())
    write("spnego", "long-form-length", neg_token_resp(challenge() + b"\0" * 300))
    write("spnego", "accept-completed", neg_token_resp(b""))
    for name, data in rpc_pdus():
        write("rpc_pdu", name, data)
    for name, data in rpc_krb_wraps():
        write("rpc_krb_wrap", name, data)
    for name, data in scmr_answers():
        write("scmr_ndr", name, data)
    for name, data in tsch_answers():
        write("tsch_ndr", name, data)
    write("inventory", "example.toml", (ROOT / "examples" / "inventory.toml").read_bytes())
    write("inventory", "demo.toml", (ROOT / "examples" / "demo" / "pushinst.toml").read_bytes())
    for name, text in INVENTORIES.items():
        write("inventory", name + ".toml", text.encode())


if __name__ == "__main__":
    main()
