#!/usr/bin/env python3
"""A Windows host EMULATOR for pushinst's tests. It is not Windows.

It speaks the real protocols a push install uses -- SMB2 (impacket's server) with
the ADMIN$ and C$ shares, DCE/RPC MS-SCMR on \\PIPE\\svcctl and MS-TSCH on
\\PIPE\\atsvc -- and behaves like the Service Control Manager and the Task
Scheduler where pushinst can see it: services are created,
started (answering 1053, as Windows does for a program that is not a service) and
deleted. A started service's command line runs pushinst's wrapper script as a
local process, with C:\\Windows mapped to the ADMIN$ directory. The wrapper is
interpreted line by line (only the shapes pushinst writes are understood, so a
change to the wrapper that Windows' cmd would not run shows up here too); the
installer it names is run with /bin/sh; since a Unix exit status stops at 255, an
installer that wants to return a Windows code such as 3010 writes it to the file
named by $PUSHINST_EXIT_FILE. `reg query` reads ROOT/registry.json.

Every call is appended to ROOT/calls.log, for the tests to check.

usage: emulator.py ADDR:PORT ROOT PASSWORD [--mode normal|deny-scm|service-exists|silent]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import threading

from impacket import ntlm
from impacket.dcerpc.v5 import scmr, tsch
from impacket.dcerpc.v5.dtypes import NULL
from impacket.dcerpc.v5.rpcrt import DCERPCServer
from impacket.smbserver import SimpleSMBServer

ERROR_ACCESS_DENIED = 5
ERROR_SERVICE_REQUEST_TIMEOUT = 1053
ERROR_SERVICE_DOES_NOT_EXIST = 1060
ERROR_SERVICE_EXISTS = 1073


class Host:
    def __init__(self, root, mode):
        self.root = root
        self.windows = os.path.join(root, "windows")
        self.mode = mode
        self.services = {}
        self.handles = {}
        self.next_handle = 1
        self.lock = threading.Lock()

    def log(self, line):
        with self.lock, open(os.path.join(self.root, "calls.log"), "a") as f:
            f.write(line + "\n")

    def handle(self, what):
        with self.lock:
            value = self.next_handle.to_bytes(4, "little") + b"\x50" * 16
            self.next_handle += 1
            self.handles[value] = what
            return value

    def local_path(self, windows_path):
        """%SystemRoot%\\Temp\\x.cmd or C:\\Windows\\Temp\\x.cmd -> ROOT/windows/Temp/x.cmd"""
        path = re.sub(r"^(%SystemRoot%|[Cc]:\\Windows)\\", "", windows_path.strip('"'))
        return os.path.join(self.windows, *path.split("\\"))


def logged(host, call):
    """A failing handler must say why; impacket would just drop the pipe."""
    def wrapped(data):
        try:
            return call(data)
        except Exception:
            import traceback
            host.log("HANDLER-ERROR " + traceback.format_exc().replace("\n", " | "))
            raise
    return wrapped


class Svcctl(DCERPCServer):
    def __init__(self, host):
        DCERPCServer.__init__(self)
        self.host = host
        self.addCallbacks(
            ("367ABB81-9844-35F1-AD32-98F038001003", "2.0"),
            "\\PIPE\\svcctl",
            {opnum: logged(host, call) for opnum, call in {
                0: self.close,
                2: self.delete,
                12: self.create,
                15: self.open_manager,
                16: self.open_service,
                19: self.start_service,
            }.items()},
        )



    def open_manager(self, data):
        request = scmr.ROpenSCManagerW(data)
        answer = scmr.ROpenSCManagerWResponse()
        self.host.log("OpenSCManagerW access=0x%x" % request["dwDesiredAccess"])
        if self.host.mode == "deny-scm":
            answer["lpScHandle"] = b"\x00" * 20
            answer["ErrorCode"] = ERROR_ACCESS_DENIED
            return answer
        answer["lpScHandle"] = self.host.handle("manager")
        answer["ErrorCode"] = 0
        return answer

    def create(self, data):
        request = scmr.RCreateServiceW(data)
        name = request["lpServiceName"].rstrip("\x00")
        binary = request["lpBinaryPathName"].rstrip("\x00")
        answer = scmr.RCreateServiceWResponse()
        answer["lpdwTagId"] = NULL
        exists = name in self.host.services or self.host.mode == "service-exists"
        self.host.log("CreateServiceW %s start=%d type=0x%x %s" % (
            name, request["dwStartType"], request["dwServiceType"], "EXISTS" if exists else binary))
        if exists:
            answer["lpServiceHandle"] = b"\x00" * 20
            answer["ErrorCode"] = ERROR_SERVICE_EXISTS
            return answer
        self.host.services[name] = binary
        answer["lpServiceHandle"] = self.host.handle(name)
        answer["ErrorCode"] = 0
        return answer

    def open_service(self, data):
        request = scmr.ROpenServiceW(data)
        name = request["lpServiceName"].rstrip("\x00")
        answer = scmr.ROpenServiceWResponse()
        self.host.log("OpenServiceW %s" % name)
        if name not in self.host.services:
            answer["lpServiceHandle"] = b"\x00" * 20
            answer["ErrorCode"] = ERROR_SERVICE_DOES_NOT_EXIST
            return answer
        answer["lpServiceHandle"] = self.host.handle(name)
        answer["ErrorCode"] = 0
        return answer

    def start_service(self, data):
        request = scmr.RStartServiceW(data)
        name = self.host.handles.get(raw(request["hService"]), "?")
        binary = self.host.services.get(name, "")
        self.host.log("StartServiceW %s" % name)
        if self.host.mode != "silent":
            threading.Thread(target=run_service, args=(self.host, binary), daemon=True).start()
        answer = scmr.RStartServiceWResponse()
        # Like Windows for a program that never calls StartServiceCtrlDispatcher.
        answer["ErrorCode"] = ERROR_SERVICE_REQUEST_TIMEOUT
        return answer

    def delete(self, data):
        request = scmr.RDeleteService(data)
        name = self.host.handles.get(raw(request["hService"]), "?")
        self.host.log("DeleteService %s" % name)
        self.host.services.pop(name, None)
        answer = scmr.RDeleteServiceResponse()
        answer["ErrorCode"] = 0
        return answer

    def close(self, data):
        request = scmr.RCloseServiceHandle(data)
        what = self.host.handles.pop(raw(request["hSCObject"]), "?")
        self.host.log("CloseServiceHandle %s" % what)
        answer = scmr.RCloseServiceHandleResponse()
        answer["hSCObject"] = b"\x00" * 20
        answer["ErrorCode"] = 0
        return answer


class Atsvc(DCERPCServer):
    """MS-TSCH: a registered task runs its <Exec> when SchRpcRun asks for it."""

    def __init__(self, host):
        DCERPCServer.__init__(self)
        self.host = host
        self.tasks = {}
        self.addCallbacks(
            ("86D35949-83C9-4044-B424-DB363231FD0C", "1.0"),
            "\\PIPE\\atsvc",
            {opnum: logged(host, call) for opnum, call in {
                1: self.register,
                12: self.run_task,
                13: self.delete,
            }.items()},
        )

    def register(self, data):
        request = tsch.SchRpcRegisterTask(data)
        path = request["path"].rstrip("\x00")
        xml = request["xml"].rstrip("\x00")
        command = re.search(r"<Command>(.*?)</Command>", xml, re.S)
        arguments = re.search(r"<Arguments>(.*?)</Arguments>", xml, re.S)
        system = "<UserId>S-1-5-18</UserId>" in xml
        self.host.log("SchRpcRegisterTask %s system=%s %s %s" % (
            path, system, command and command.group(1), arguments and arguments.group(1)))
        answer = tsch.SchRpcRegisterTaskResponse()
        answer["pActualPath"] = path + "\x00"
        answer["pErrorInfo"] = NULL
        if self.host.mode == "deny-scm":
            answer["ErrorCode"] = 0x80070005
            return answer
        unescape = lambda t: t.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        self.tasks[path] = unescape(arguments.group(1)) if arguments else ""
        answer["ErrorCode"] = 0
        return answer

    def run_task(self, data):
        request = tsch.SchRpcRun(data)
        path = request["path"].rstrip("\x00")
        self.host.log("SchRpcRun %s" % path)
        answer = tsch.SchRpcRunResponse()
        answer["pGuid"] = b"\x11" * 16
        if path not in self.tasks:
            answer["ErrorCode"] = 0x80070002
            return answer
        if self.host.mode != "silent":
            binary = "%COMSPEC% /Q /c " + self.tasks[path]
            threading.Thread(target=run_service, args=(self.host, binary), daemon=True).start()
        answer["ErrorCode"] = 0
        return answer

    def delete(self, data):
        request = tsch.SchRpcDelete(data)
        path = request["path"].rstrip("\x00")
        self.host.log("SchRpcDelete %s" % path)
        answer = tsch.SchRpcDeleteResponse()
        answer["ErrorCode"] = 0 if self.tasks.pop(path, None) is not None else 0x80070002
        return answer


def raw(handle):
    """A context handle's 20 bytes, however impacket hands it over."""
    return handle.getData() if hasattr(handle, "getData") else bytes(handle)


def run_service(host, binary):
    """`%COMSPEC% /Q /c start "pushinst" /b %COMSPEC% /Q /c "SCRIPT"` -> run SCRIPT;
    `%COMSPEC% /Q /c COMMAND` -> run COMMAND."""
    match = re.search(r'/c "([^"]+\.cmd)"$', binary)
    if match:
        interpret(host, host.local_path(match.group(1)))
        return
    command = re.sub(r"^%COMSPEC% /Q /c ", "", binary)
    run_command(host, command, host.windows)


def interpret(host, script):
    """The wrapper pushinst writes, one line at a time, the way cmd would."""
    here = os.path.dirname(script)
    errorlevel = 0
    with open(script, newline="") as f:
        text = f.read()
    if "\r\n" not in text:
        host.log("WRAPPER-ERROR lines must end in CRLF")
        return
    for line in text.split("\r\n"):
        line = line.replace("%~dp0", here + os.sep)
        if line in ("", "@echo off") or line.startswith("cd /d "):
            continue
        run = re.fullmatch(r'(.+) > "([^"]+)" 2>&1', line)
        code = re.fullmatch(r'> "([^"]+)" echo %errorlevel%', line)
        move = re.fullmatch(r'move /y "([^"]+)" "([^"]+)" > nul', line)
        if run:
            with open(run.group(2), "wb") as log:
                errorlevel = run_command(host, run.group(1), here, log)
        elif code:
            with open(code.group(1), "w") as f:
                f.write("%d \r\n" % errorlevel)
        elif move:
            os.replace(move.group(1), move.group(2))
        else:
            host.log("WRAPPER-ERROR cmd would not run this line as intended: %r" % line)
            return


def run_command(host, command, here, log=None):
    """An installer in the staging directory runs under /bin/sh; `reg query` reads
    ROOT/registry.json; `shutdown` is recorded; anything else goes to /bin/sh."""
    # cmd's rules: double quotes group, backslashes are just characters.
    words = [q if q else w for q, w in re.findall(r'"([^"]*)"|(\S+)', command)]
    host.log("RUN %s" % command)
    if words[:2] == ["msiexec", "/i"]:
        words = words[2:]
    if words and words[0] == "reg" and len(words) >= 5 and words[1] == "query":
        return reg_query(host, command, log)
    if words and words[0] == "shutdown":
        with open(os.path.join(host.root, "shutdown"), "a") as f:
            f.write(command + "\n")
        return 0
    program = os.path.join(here, words[0].replace("\\", "/")) if words else ""
    exit_file = os.path.join(here, ".exit-code")
    env = dict(os.environ, PUSHINST_EMULATOR_ROOT=host.root, PUSHINST_EXIT_FILE=exit_file)
    if os.path.isfile(program):
        argv = ["/bin/sh", program] + words[1:]
    else:
        argv = ["/bin/sh", "-c", command]
    done = subprocess.run(argv, cwd=here, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env)
    try:
        with open(exit_file) as f:
            code = int(f.read().strip())
        os.remove(exit_file)
        return code
    except (OSError, ValueError):
        return done.returncode


def reg_query(host, command, log):
    """`reg query "HKLM\\Key" /v Value`, answered from ROOT/registry.json."""
    match = re.fullmatch(r'reg query "([^"]+)" /v (\S+)', command)
    try:
        with open(os.path.join(host.root, "registry.json")) as f:
            registry = json.load(f)
    except OSError:
        registry = {}
    if match and match.group(2) in registry.get(match.group(1), {}):
        value = registry[match.group(1)][match.group(2)]
        if log:
            log.write(("\r\n%s\r\n    %s    REG_SZ    %s\r\n\r\n" % (match.group(1), match.group(2), value)).encode())
        return 0
    if log:
        log.write(b"ERROR: The system was unable to find the specified registry key or value.\r\n")
    return 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("listen")
    parser.add_argument("root")
    parser.add_argument("password")
    parser.add_argument("--mode", default="normal", choices=["normal", "deny-scm", "service-exists", "silent"])
    args = parser.parse_args()
    addr, port = args.listen.rsplit(":", 1)
    for sub in ("windows/Temp", "c"):
        os.makedirs(os.path.join(args.root, sub), exist_ok=True)

    host = Host(args.root, args.mode)
    svcctl = Svcctl(host)
    svcctl.daemon = True
    atsvc = Atsvc(host)
    atsvc.daemon = True
    server = SimpleSMBServer(listenAddress=addr, listenPort=int(port))
    server.setSMB2Support(True)
    server.setSMBChallenge("")
    server.setLogFile("")
    server.addShare("ADMIN$", os.path.join(args.root, "windows"))
    server.addShare("C$", os.path.join(args.root, "c"))
    nthash = ntlm.compute_nthash(args.password).hex()
    server.addCredential("Administrator", 500, "aad3b435b51404eeaad3b435b51404ee", nthash)
    server.registerNamedPipe("svcctl", ("127.0.0.1", svcctl.getListenPort()))
    server.registerNamedPipe("atsvc", ("127.0.0.1", atsvc.getListenPort()))
    svcctl.start()
    atsvc.start()
    with open(os.path.join(args.root, "ready"), "w") as f:
        f.write("%d\n" % os.getpid())
    server.start()


if __name__ == "__main__":
    sys.exit(main())
