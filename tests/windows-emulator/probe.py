#!/usr/bin/env python3
"""A second client for the Windows host EMULATOR's tests: impacket's own, binding
\\PIPE\\atsvc or \\PIPE\\svcctl with or without RPC-level authentication, so a test
can prove that the emulator refuses what Windows refuses (a bind below packet
privacy, an NTLM message without target name or MIC under hardening).

usage: probe.py ADDR PORT PASSWORD PIPE LEVEL
  LEVEL 0 binds without authentication, 6 with NTLMSSP at packet privacy.
Prints "OK <Win32 code>" and exits 0 when the call was answered, prints the error
and exits 1 when it was refused.
"""

import sys

from impacket.dcerpc.v5 import scmr, transport, tsch
from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_WINNT


def main():
    addr, port, password, pipe, level = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
    wire = transport.SMBTransport(addr, port, "\\" + pipe, username="Administrator", password=password)
    dce = wire.get_dce_rpc()
    if level:
        dce.set_auth_type(RPC_C_AUTHN_WINNT)
        dce.set_auth_level(level)
    try:
        dce.connect()
        if pipe == "svcctl":
            dce.bind(scmr.MSRPC_UUID_SCMR)
            code = scmr.hROpenSCManagerW(dce)["ErrorCode"]
        else:
            dce.bind(tsch.MSRPC_UUID_TSCHS)
            # A task that does not exist: answered ERROR_FILE_NOT_FOUND when the call got through.
            try:
                code = tsch.hSchRpcDelete(dce, "\\pushinst-probe")["ErrorCode"]
            except tsch.DCERPCSessionError as e:
                code = e.get_error_code()
    except Exception as e:  # noqa: BLE001 -- any refusal is the answer
        print("REFUSED %s" % e)
        return 1
    print("OK 0x%x" % code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
