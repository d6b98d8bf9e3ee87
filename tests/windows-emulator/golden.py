#!/usr/bin/env python3
"""Golden NDR vectors for pushinst's MS-SCMR and MS-TSCH request stubs, encoded by
impacket, and golden DCE/RPC PDUs sealed and signed at packet privacy by impacket's
own DCERPC_v5 (NTLMSSP with extended session security and key exchange, a fixed
exported session key).

Run with the emulator's venv:
    tests/windows-emulator/.venv/bin/python tests/windows-emulator/golden.py \
        > src/transport/windows/rpc/golden.json

impacket fills alignment gaps with marker bytes (0xbf, 0xcc, ...) and numbers
unique pointers at random; NDR leaves both unspecified. So that the vectors compare
byte for byte, this script has impacket pad with zeros and number referents
0x20000, 0x20004, ... as pushinst does. Nothing else about the encoding is changed.
Likewise the padding before a sec_trailer: impacket fills it with 0xbb, pushinst
with zeros (MS-RPCE leaves the value open); it is patched to zeros the same way.
"""

import inspect
import json
import re
import sys

import impacket.dcerpc.v5.ndr as ndr

# Zero padding: re-run ndr's own source with its marker bytes replaced.
source = re.sub(r"b'\\x[0-9a-fA-F]{2}'\*(pad0?)", r"b'\\x00'*\1", inspect.getsource(ndr))
exec(compile(source, ndr.__file__, "exec"), ndr.__dict__)


class Referents:
    """What ndr's `random` is asked for: the next referent id."""

    def __init__(self):
        self.next = 0x20000

    def randint(self, low, high):
        value = self.next
        self.next += 4
        return value


from impacket.dcerpc.v5 import scmr, tsch  # noqa: E402  (after the patch, on purpose)
from impacket.dcerpc.v5.dtypes import NULL  # noqa: E402

HANDLE = bytes(range(1, 21))
NAME = "pushinst-0123456789abcdef"
TASK = "\\pushinst-0123456789abcdef"
XML = '<?xml version="1.0" encoding="UTF-16"?><Task><Actions><Exec><Command>cmd.exe</Command></Exec></Actions></Task>'
BINARY = r'%COMSPEC% /Q /c start "pushinst" /b %COMSPEC% /Q /c "%SystemRoot%\Temp\pushinst-r-agent-ws01\pushinst.cmd"'


def fresh(cls):
    ndr.random = Referents()
    return cls()


def encode():
    vectors = {}

    r = fresh(scmr.ROpenSCManagerW)
    r["lpMachineName"] = "ws01.corp.example\x00"
    r["lpDatabaseName"] = "ServicesActive\x00"
    r["dwDesiredAccess"] = 0x3
    vectors["open_sc_manager"] = r.getData()

    r = fresh(scmr.RCreateServiceW)
    r["hSCManager"] = HANDLE
    r["lpServiceName"] = NAME + "\x00"
    r["lpDisplayName"] = NAME + "\x00"
    r["dwDesiredAccess"] = 0x000F01FF
    r["dwServiceType"] = 0x10
    r["dwStartType"] = 3
    r["dwErrorControl"] = 0
    r["lpBinaryPathName"] = BINARY + "\x00"
    r["lpLoadOrderGroup"] = NULL
    r["lpdwTagId"] = NULL
    r["lpDependencies"] = NULL
    r["dwDependSize"] = 0
    r["lpServiceStartName"] = NULL
    r["lpPassword"] = NULL
    r["dwPwSize"] = 0
    vectors["create_service"] = r.getData()

    r = fresh(scmr.ROpenServiceW)
    r["hSCManager"] = HANDLE
    r["lpServiceName"] = NAME + "\x00"
    r["dwDesiredAccess"] = 0x000F01FF
    vectors["open_service"] = r.getData()

    r = fresh(scmr.RStartServiceW)
    r["hService"] = HANDLE
    r["argc"] = 0
    r["argv"] = NULL
    vectors["start_service"] = r.getData()

    for name, cls, field in [
        ("delete_service", scmr.RDeleteService, "hService"),
        ("close_service_handle", scmr.RCloseServiceHandle, "hSCObject"),
    ]:
        r = fresh(cls)
        r[field] = HANDLE
        vectors[name] = r.getData()
    return vectors


def encode_tsch():
    vectors = {}
    r = fresh(tsch.SchRpcRegisterTask)
    r["path"] = TASK + "\x00"
    r["xml"] = XML + "\x00"
    r["flags"] = tsch.TASK_CREATE
    r["sddl"] = NULL
    r["logonType"] = tsch.TASK_LOGON_NONE
    r["cCreds"] = 0
    r["pCreds"] = NULL
    vectors["register_task"] = r.getData()

    r = fresh(tsch.SchRpcRun)
    r["path"] = TASK + "\x00"
    r["cArgs"] = 0
    r["pArgs"] = NULL
    r["flags"] = 0
    r["sessionId"] = 0
    r["user"] = NULL
    vectors["run"] = r.getData()

    r = fresh(tsch.SchRpcDelete)
    r["path"] = TASK + "\x00"
    r["flags"] = 0
    vectors["delete"] = r.getData()
    return vectors


import impacket.dcerpc.v5.rpcrt as rpcrt  # noqa: E402

rpc_source = inspect.getsource(rpcrt).replace("b'\\xBB'*pad", "b'\\x00'*pad")
assert rpc_source != inspect.getsource(rpcrt), "impacket's auth padding moved"
exec(compile(rpc_source, rpcrt.__file__, "exec"), rpcrt.__dict__)

from Cryptodome.Cipher import ARC4  # noqa: E402
from impacket import ntlm  # noqa: E402

# What pushinst's NTLM agrees on with a Windows server (its NEGOTIATE flags).
FLAGS = 0xE2888235
SESSION_KEY = bytes(range(0x30, 0x40))


class Captured:
    """A transport that keeps what DCERPC_v5 sends."""

    def __init__(self):
        self.sent = []

    def send(self, data, forceWriteAndx=0, forceRecv=0):
        self.sent.append(data)


def sealer(sign, seal):
    """impacket's DCERPC_v5 after an NTLM bind at packet privacy, its outgoing
    direction keyed with `sign`/`seal` (the client's, or the server's to make
    responses)."""
    wire = Captured()
    d = rpcrt.DCERPC_v5(wire)
    d._DCERPC_v5__auth_level = rpcrt.RPC_C_AUTHN_LEVEL_PKT_PRIVACY
    d._DCERPC_v5__auth_type = rpcrt.RPC_C_AUTHN_WINNT
    d._DCERPC_v5__flags = FLAGS
    d._DCERPC_v5__clientSigningKey = ntlm.SIGNKEY(FLAGS, SESSION_KEY, sign)
    d._DCERPC_v5__clientSealingKey = ntlm.SEALKEY(FLAGS, SESSION_KEY, seal)
    d._DCERPC_v5__clientSealingHandle = ARC4.new(d._DCERPC_v5__clientSealingKey).encrypt
    d._DCERPC_v5__max_xmit_size = 4280
    d._DCERPC_v5__callid = 2
    return d, wire


def encode_sealing(stubs):
    """Requests as pushinst's first calls after the bind (call ids 2, 3, ...), and
    the server's sealed answers to them."""
    client, wire = sealer("Client", "Client")
    requests = []
    for opnum, stub in stubs:
        client.call(opnum, stub)
        requests.append({"opnum": opnum, "call_id": 2 + len(requests), "stub": stub.hex(), "pdu": wire.sent[-1].hex()})
    server, wire = sealer("Server", "Server")
    responses = []
    for call_id, stub in [(2, bytes(range(1, 25))), (3, b"\x00\x00\x00\x00\x05\x00\x00\x00\x07")]:
        answer = rpcrt.MSRPCRespHeader()
        answer["type"] = rpcrt.MSRPC_RESPONSE
        answer["flags"] = rpcrt.PFC_FIRST_FRAG | rpcrt.PFC_LAST_FRAG
        answer["call_id"] = call_id
        answer["alloc_hint"] = len(stub)
        answer["pduData"] = stub
        server._transport_send(answer)
        responses.append({"call_id": call_id, "stub": stub.hex(), "pdu": wire.sent[-1].hex()})
    return {
        "flags": FLAGS,
        "session_key": SESSION_KEY.hex(),
        "requests": requests,
        "responses": responses,
    }


def main():
    vectors = {name: data.hex() for name, data in encode().items()}
    json.dump(
        {
            "generated_by": "tests/windows-emulator/golden.py with impacket 0.13.1",
            "handle": HANDLE.hex(),
            "name": NAME,
            "binary": BINARY,
            "machine": "ws01.corp.example",
            "task": TASK,
            "xml": XML,
            "vectors": vectors,
            "tsch": {name: data.hex() for name, data in encode_tsch().items()},
            "sealing": encode_sealing([
                (15, bytes.fromhex(vectors["open_sc_manager"])),
                (0, bytes.fromhex(vectors["close_service_handle"])),
                (12, b"\x01\x02\x03\x04\x05"),
            ]),
        },
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
