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

Every call is appended to ROOT/calls.log, for the tests to check, and so is every
SMB2 CREATE, as `CREATE {json}`: share, path, disposition, create options, access,
the names of its create contexts and the security descriptor of a `SecD` context,
decoded (control, owner, group, DACL ACEs with SIDs as S-1-...), and the status
answered.

Like Windows, the emulator signs every answer once the session has its key,
including the final SESSION_SETUP answer, and sets SMB2_FLAGS_SIGNED on it
(impacket does both; `signed()` below keeps it so). A FILE_CREATE on a name that
exists is answered STATUS_OBJECT_NAME_COLLISION (impacket does).

The hostile modes keep every answer correctly signed but put lengths and counts in
it that a hostile server would send, one kind per mode:
  hostile-read            READ of a file never reaches its end: every answer is as
                          long as asked, with DataRemaining 0xFFFFFFFF
  hostile-read-length     READ answers claim DataLength 0xFFFFFFF0 (beyond the message)
  hostile-listing         QUERY_DIRECTORY streams ten million names across responses
  hostile-listing-offsets QUERY_DIRECTORY entries whose NextEntryOffset wraps (in
                          32 bits) back to an earlier entry: a listing without end
  hostile-rpc             DCE/RPC answers (after the bind) claim alloc_hint 0xFFFFFFF0
                          and never set PFC_LAST_FRAG: fragments without end
  hostile-rpc-length      DCE/RPC answers claim frag_length 0xFFFF (beyond any
                          negotiated fragment size) and alloc_hint 0xFFFFFFFF; the
                          pipe then yields junk
  hostile-ioctl-length    pipe IOCTL answers claim OutputCount 0xFFFFFFF0 (beyond the
                          message)
  hostile-credits         every signed answer grants 0xFFFF credits

NTLM and DCE/RPC security as patched Windows enforces them (atsvc only at packet
privacy, signatures and sealing verified, injected logon statuses, SPN target name
hardening) live in rpcauth.py, with the environment knobs that switch them.
cmd.exe is modelled where pushinst's wrapper depends on it (see interpret and
run_command): OEM code page until `chcp 65001`, percent expansion, no return from a
batch file run without `call`, CommandLineToArgvW splitting (each installer's argv
is appended to ROOT/argv.jsonl). The "blocked" mode starts services and tasks but
runs nothing, as when antivirus or EDR blocks them; EMULATOR_SHUTDOWN_EXIT=N makes
`shutdown` fail with N. EMULATOR_START_DELAY=SECONDS makes StartServiceW hang
that long and then answer without running anything (a service start that hangs),
so a test can kill pushinst while its directory and service exist. The RPC server
answers one call at a time, so other SCM calls wait for it too.

The host's facts, as pushinst's requirement check reads them as SYSTEM: the
wrapper's %PROCESSOR_ARCHITECTURE% (only the service-run wrapper has it, as only
SYSTEM's environment is asked), `reg query` of CurrentBuildNumber and UBR under
HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion, `fsutil volume diskfree` (the
free bytes of the file system holding ROOT, unless told). Each is read from
ROOT/facts.json at every run ({"arch": "ARM64", "build": 17763, "ubr": 5329,
"free_mib": 100}), so a test may change one host's; missing keys come from
EMULATOR_ARCH, EMULATOR_BUILD, EMULATOR_UBR, EMULATOR_FREE_MIB, then AMD64, 20348,
2700 and the real free space. ROOT/registry.json values are REG_SZ text, or
{"type": "REG_DWORD", "data": 0} for another type (printed as reg prints it).

usage: emulator.py ADDR:PORT ROOT PASSWORD [--mode MODE]
"""

import argparse
import json
import os
import re
import shlex
import struct
import subprocess
import sys
import threading
import time

from impacket import ntlm
from impacket import smb3structs as smb2
from impacket import smbserver
from impacket.dcerpc.v5 import scmr, tsch
from impacket.dcerpc.v5.dtypes import NULL
from impacket.dcerpc.v5.rpcrt import DCERPCServer
from impacket.smbserver import SimpleSMBServer

import rpcauth

ERROR_ACCESS_DENIED = 5
ERROR_SERVICE_REQUEST_TIMEOUT = 1053
ERROR_SERVICE_DOES_NOT_EXIST = 1060
ERROR_SERVICE_EXISTS = 1073

STATUS_SUCCESS = 0
STATUS_NO_MORE_FILES = 0x80000006
FSCTL_PIPE_TRANSCEIVE = 0x0011C017
HOSTILE_MODES = [
    "hostile-read", "hostile-read-length", "hostile-listing", "hostile-listing-offsets",
    "hostile-rpc", "hostile-rpc-length", "hostile-ioctl-length", "hostile-credits",
]


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
        delay = float(os.environ.get("EMULATOR_START_DELAY", "0"))
        time.sleep(delay)
        if self.host.mode != "silent" and not delay:
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
    `%COMSPEC% /Q /c COMMAND` -> run COMMAND. In the "blocked" mode (antivirus or
    EDR killing what the service starts) nothing runs at all."""
    if host.mode == "blocked":
        host.log("BLOCKED %s" % binary)
        return
    match = re.search(r'/c "([^"]+\.cmd)"$', binary)
    if match:
        interpret(host, host.local_path(match.group(1)))
        return
    command = re.sub(r"^%COMSPEC% /Q /c ", "", binary)
    run_command(host, command, host.windows)


# cmd.exe reads each batch line in the console code page: OEM 850 on a western
# European Windows, until `chcp 65001` switches it to UTF-8.
OEM_CODE_PAGE = "cp850"


def facts(host):
    """This host's facts: ROOT/facts.json, then the EMULATOR_* environment, then
    defaults (the free space is the real one of the file system holding ROOT)."""
    try:
        with open(os.path.join(host.root, "facts.json")) as f:
            told = json.load(f)
    except OSError:
        told = {}
    stat = os.statvfs(host.root)
    free = stat.f_bavail * stat.f_frsize
    if "free_mib" in told or os.environ.get("EMULATOR_FREE_MIB"):
        free = int(told.get("free_mib", os.environ.get("EMULATOR_FREE_MIB", "0"))) * 1024 * 1024
    return {
        "arch": str(told.get("arch", os.environ.get("EMULATOR_ARCH", "AMD64"))),
        "build": int(told.get("build", os.environ.get("EMULATOR_BUILD", "20348"))),
        "ubr": int(told.get("ubr", os.environ.get("EMULATOR_UBR", "2700"))),
        "free": free,
    }


def expand_percent(line, variables):
    """cmd's percent expansion of one batch line (phase 1): `%%` is one `%`,
    `%NAME%` the variable or nothing, `%0`..`%9` and `%*` the (absent) arguments,
    and a `%` with no partner is dropped."""
    out, i = [], 0
    while i < len(line):
        c = line[i]
        if c != "%":
            out.append(c)
            i += 1
        elif line.startswith("%%", i):
            out.append("%")
            i += 2
        elif line.startswith("%~dp0", i):
            out.append(variables["~dp0"])
            i += 5
        elif i + 1 < len(line) and (line[i + 1].isdigit() or line[i + 1] == "*"):
            i += 2
        else:
            end = line.find("%", i + 1)
            if end < 0:
                i += 1
                continue
            out.append(variables.get(line[i + 1:end].upper(), ""))
            i = end + 1
    return "".join(out)


def interpret(host, script):
    """The wrapper pushinst writes, one line at a time, the way cmd would: each line
    decoded in the current code page and percent-expanded before it runs; only the
    shapes pushinst writes are understood."""
    here = os.path.dirname(script)
    errorlevel = 0
    code_page = OEM_CODE_PAGE
    with open(script, "rb") as f:
        data = f.read()
    if b"\r\n" not in data:
        host.log("WRAPPER-ERROR lines must end in CRLF")
        return
    for raw_line in data.split(b"\r\n"):
        variables = {"~dp0": here + os.sep, "ERRORLEVEL": str(errorlevel),
                     "COMSPEC": "C:\\Windows\\system32\\cmd.exe", "SYSTEMROOT": "C:\\Windows",
                     "SYSTEMDRIVE": "C:", "PROCESSOR_ARCHITECTURE": facts(host)["arch"]}
        line = expand_percent(raw_line.decode(code_page, errors="replace"), variables)
        if line in ("", "@echo off") or line.startswith("cd /d "):
            continue
        if line == "chcp 65001 >nul":
            code_page = "utf-8"
            continue
        called = re.fullmatch(r'call (.+) > "([^"]+)" 2>&1', line)
        run = re.fullmatch(r'(.+) > "([^"]+)" 2>&1', line)
        echo = re.fullmatch(r'> "([^"]+)" echo (.*)', line)
        move = re.fullmatch(r'move /y "([^"]+)" "([^"]+)" > nul', line)
        if called:
            # `call` expands the line a second time.
            command = expand_percent(called.group(1), variables)
            with open(called.group(2), "wb") as log:
                errorlevel = run_command(host, command, here, log)
        elif run:
            with open(run.group(2), "wb") as log:
                errorlevel = run_command(host, run.group(1), here, log)
            program = command_line_to_argv(run.group(1))[:1]
            if program and program[0].lower().endswith((".bat", ".cmd")):
                # A batch file started without `call` replaces this one: cmd never
                # comes back to the rest of the wrapper.
                host.log("NO-RETURN %s ran without call; the rest of the wrapper is skipped" % program[0])
                return
        elif echo:
            with open(echo.group(1), "w") as f:
                f.write(echo.group(2) + "\r\n")
        elif move:
            os.replace(move.group(1), move.group(2))
        else:
            host.log("WRAPPER-ERROR cmd would not run this line as intended: %r" % line)
            return


def command_line_to_argv(line):
    """CommandLineToArgvW: the program name up to a space (or between quotes), then
    arguments where `\\` escapes only before a quote and `""` in quotes is a quote."""
    args, i, n = [], 0, len(line)
    while i < n and line[i] in " \t":
        i += 1
    if i == n:
        return []
    if line[i] == '"':
        end = line.find('"', i + 1)
        end = n if end < 0 else end
        args.append(line[i + 1:end])
        i = end + 1
    else:
        start = i
        while i < n and line[i] not in " \t":
            i += 1
        args.append(line[start:i])
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            return args
        arg, quoted = [], False
        while i < n and (quoted or line[i] not in " \t"):
            if line[i] == "\\":
                start = i
                while i < n and line[i] == "\\":
                    i += 1
                count = i - start
                if i < n and line[i] == '"':
                    arg.append("\\" * (count // 2))
                    if count % 2:
                        arg.append('"')
                        i += 1
                else:
                    arg.append("\\" * count)
            elif line[i] == '"':
                if quoted and i + 1 < n and line[i + 1] == '"':
                    arg.append('"')
                    i += 2
                else:
                    quoted = not quoted
                    i += 1
            else:
                arg.append(line[i])
                i += 1
        args.append("".join(arg))


def batch_arguments(line):
    """How a batch file sees its arguments: split at spaces outside quotes, each as
    `%~1` gives it (the surrounding quotes removed, backslashes untouched)."""
    tokens = re.findall(r'(?:"[^"]*"?|[^\s"])+', line)
    return [t[1:-1] if len(t) >= 2 and t[0] == '"' and t[-1] == '"' else t for t in tokens]


def record_argv(host, program, args):
    """What the installer received, as UTF-8 JSON, one run per line (ROOT/argv.jsonl)."""
    with host.lock, open(os.path.join(host.root, "argv.jsonl"), "a", encoding="utf-8") as f:
        f.write(json.dumps({"program": program, "args": args}, ensure_ascii=False) + "\n")


def run_command(host, command, here, log=None):
    """An installer in the staging directory runs under /bin/sh (a `.bat`/`.cmd` one
    line by line, `exit /b N` returning N), its arguments split as Windows splits
    them; `msiexec /i` writes its /l*v log in UTF-16LE; `reg query` reads
    ROOT/registry.json; `shutdown` is recorded (and fails with EMULATOR_SHUTDOWN_EXIT
    when set); anything else goes to /bin/sh."""
    host.log("RUN %s" % command)
    if command.startswith("(") and command.endswith(")"):
        return run_block(host, command[1:-1], here, log)
    argv = command_line_to_argv(command)
    msi_log = None
    if argv[:2] == ["msiexec", "/i"] and len(argv) >= 3:
        rest = argv[3:]
        if rest[:1] == ["/l*v"] and len(rest) >= 2:
            msi_log, rest = rest[1], rest[2:]
        argv = argv[2:3] + rest
    if argv[:2] == ["reg", "query"]:
        return reg_query(host, argv, log)
    if argv[:1] == ["shutdown"]:
        return shutdown(host, command, argv)
    if [a.lower() for a in argv[:3]] == ["fsutil", "volume", "diskfree"] and len(argv) == 4:
        return diskfree(host, argv[3], log)
    if argv[:3] == ["cmd", "/d", "/c"] and len(argv) == 4 and argv[3].lower().endswith(".cmd"):
        # The required command's batch file, in a cmd of its own: its exit code.
        program = argv[3]
        if not os.path.isfile(program):
            return 1
        return run_batch(program, here, log, dict(os.environ, PUSHINST_EMULATOR_ROOT=host.root))
    program = os.path.join(here, argv[0].replace("\\", "/")) if argv else ""
    exit_file = os.path.join(here, ".exit-code")
    env = dict(os.environ, PUSHINST_EMULATOR_ROOT=host.root, PUSHINST_EXIT_FILE=exit_file)
    if not os.path.isfile(program):
        done = subprocess.run(["/bin/sh", "-c", command], cwd=here, stdout=log or subprocess.DEVNULL,
                              stderr=subprocess.STDOUT, env=env)
        return done.returncode
    if program.lower().endswith((".bat", ".cmd")):
        first = re.match(r'\s*("[^"]*"|\S+)', command)
        args = batch_arguments(command[first.end():] if first else "")
        record_argv(host, argv[0], args)
        return run_batch(program, here, log, env, args)
    record_argv(host, argv[0], argv[1:])
    done = subprocess.run(["/bin/sh", program] + argv[1:], cwd=here, stdout=log or subprocess.DEVNULL,
                          stderr=subprocess.STDOUT, env=env)
    try:
        with open(exit_file) as f:
            code = int(f.read().strip())
        os.remove(exit_file)
    except (OSError, ValueError):
        code = done.returncode
    if msi_log:
        # msiexec's verbose log, in the UTF-16LE with a byte order mark it uses.
        text = "=== Verbose logging started ===\r\nMSI (s): Product: %s -- Installation completed with status: %d.\r\n" % (
            argv[0], code)
        with open(msi_log, "wb") as f:
            f.write(b"\xff\xfe" + text.encode("utf-16-le"))
    return code


def split_block(body):
    """`a & b & c` -> [a, b, c], `&` inside double quotes kept."""
    parts, current, quoted, i = [], [], False, 0
    while i < len(body):
        c = body[i]
        if c == '"':
            quoted = not quoted
        if not quoted and body.startswith(" & ", i):
            parts.append("".join(current))
            current = []
            i += 3
            continue
        current.append(c)
        i += 1
    parts.append("".join(current))
    return parts


def run_block(host, body, here, log):
    """`(a & b & c)`: each command in turn, all output to the block's log; the exit
    code is the last one's. `echo TEXT` prints TEXT; `>nul 2>&1` discards output."""
    code = 0
    for part in split_block(body):
        part = part.strip()
        quiet = part.endswith(" >nul 2>&1")
        if quiet:
            part = part[:-len(" >nul 2>&1")]
        out = None if quiet else log
        if part.startswith("echo "):
            if out:
                out.write((part[5:] + "\r\n").encode("utf-8"))
            code = 0
            continue
        code = run_command(host, part, here, out)
    return code


def diskfree(host, volume, log):
    """`fsutil volume diskfree C:` as Windows 10 1903 and later print it."""
    free = facts(host)["free"]
    if log:
        total = max(free, 255 * 1024 ** 3)
        log.write(("Total free bytes                : %s (%.1f GB)\r\n"
                   "Total bytes                     : %s (%.1f GB)\r\n"
                   "Total quota free bytes          : %s (%.1f GB)\r\n" % (
                       "{:,}".format(free), free / 1024 ** 3, "{:,}".format(total), total / 1024 ** 3,
                       "{:,}".format(free), free / 1024 ** 3)).encode())
    return 0


def run_batch(program, here, log, env, args=()):
    """A batch installer, line by line: `exit /b N` ends it with N, `@echo off` and
    `rem` do nothing, `%*` is its arguments and `%ERRORLEVEL%` the last line's exit
    code, anything else runs under /bin/sh."""
    with open(program, "rb") as f:
        lines = f.read().decode("utf-8", errors="replace").splitlines()
    code = 0
    for line in lines:
        line = line.strip()
        if line in ("", "@echo off") or line.lower().startswith("rem "):
            continue
        line = line.replace("%*", " ".join(shlex.quote(a) for a in args))
        line = re.sub(r"%errorlevel%", str(code), line, flags=re.I)
        ended = re.fullmatch(r"exit /b (\d+)", line, re.I)
        if ended:
            return int(ended.group(1))
        code = subprocess.run(["/bin/sh", "-c", line], cwd=here, stdout=log or subprocess.DEVNULL,
                              stderr=subprocess.STDOUT, env=env).returncode
    return code


def shutdown(host, command, argv):
    """`shutdown /r /t N /c MSG`: recorded in calls.log (its arguments, as JSON) and in
    ROOT/shutdown; it exits with EMULATOR_SHUTDOWN_EXIT (default 0), so a test can
    make it fail as Windows' does (1190: a shutdown is already scheduled)."""
    host.log("SHUTDOWN " + json.dumps(argv[1:], ensure_ascii=False))
    code = int(os.environ.get("EMULATOR_SHUTDOWN_EXIT", "0"))
    if code == 0:
        with open(os.path.join(host.root, "shutdown"), "a", encoding="utf-8") as f:
            f.write(command + "\n")
    return code


def reg_query(host, argv, log):
    """`reg query KEY /v VALUE [/reg:32|/reg:64]`, answered from ROOT/registry.json.
    The 32-bit view finds HKLM\\Software\\X under HKLM\\Software\\WOW6432Node\\X, as
    64-bit Windows redirects it."""
    args = argv[2:]
    view = next((a for a in args if a.lower().startswith("/reg:")), None)
    args = [a for a in args if a is not view]
    try:
        with open(os.path.join(host.root, "registry.json")) as f:
            registry = json.load(f)
    except OSError:
        registry = {}
    told = facts(host)
    current = registry.setdefault("HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion", {})
    current.setdefault("CurrentBuildNumber", str(told["build"]))
    current.setdefault("UBR", {"type": "REG_DWORD", "data": told["ubr"]})
    if len(args) == 3 and args[1].lower() == "/v":
        key, value = args[0], args[2]
        if view and view.lower() == "/reg:32":
            key = re.sub(r"^(HKLM|HKEY_LOCAL_MACHINE)\\Software\\", r"\1\\Software\\WOW6432Node\\", key, flags=re.I)
        # Windows' registry ignores case in key and value names.
        values = next((v for k, v in registry.items() if k.lower() == key.lower()), {})
        name = next((n for n in values if n.lower() == value.lower()), None)
        if name is not None:
            kind, data = "REG_SZ", values[name]
            if isinstance(data, dict):
                kind, data = data["type"], data["data"]
            if kind in ("REG_DWORD", "REG_QWORD"):
                data = "0x%x" % int(data)
            if log:
                log.write(("\r\n%s\r\n    %s    %s    %s\r\n\r\n" % (key, name, kind, data)).encode())
            return 0
    if log:
        log.write(b"ERROR: The system was unable to find the specified registry key or value.\r\n")
    return 1


class Raw:
    """An answer body built byte by byte; impacket's server only asks for getData()."""

    def __init__(self, data):
        self.data = data

    def getData(self):
        return self.data

    def __len__(self):
        return len(self.data)


def sid_text(data, at):
    """A SID (MS-DTYP 2.4.2.2) at `at` as S-1-..., and its length."""
    revision, count = data[at], data[at + 1]
    authority = int.from_bytes(data[at + 2:at + 8], "big")
    subs = struct.unpack_from("<%dI" % count, data, at + 8)
    return "S-%d-%d" % (revision, authority) + "".join("-%d" % s for s in subs), 8 + 4 * count


def security_descriptor(data):
    """A self-relative SECURITY_DESCRIPTOR (MS-DTYP 2.4.6), decoded for the log."""
    revision, _, control, owner, group, sacl, dacl = struct.unpack_from("<BBHIIII", data, 0)
    out = {"revision": revision, "control": control, "owner": None, "group": None, "sacl": None, "dacl": None}
    if owner:
        out["owner"] = sid_text(data, owner)[0]
    if group:
        out["group"] = sid_text(data, group)[0]
    for name, at in (("sacl", sacl), ("dacl", dacl)):
        if not at:
            continue
        acl_revision, _, size, count, _ = struct.unpack_from("<BBHHH", data, at)
        aces, pos = [], at + 8
        for _ in range(count):
            kind, flags, ace_size, mask = struct.unpack_from("<BBHI", data, pos)
            aces.append({"type": kind, "flags": flags, "mask": mask, "sid": sid_text(data, pos + 8)[0]})
            pos += ace_size
        out[name] = {"revision": acl_revision, "size": size, "aces": aces}
    return out


def create_contexts(data):
    """The create contexts (MS-SMB2 2.2.13.2) of a CREATE: [(name, data)]."""
    out, at = [], 0
    while at + 16 <= len(data):
        following, name_offset, name_length, _, data_offset, data_length = struct.unpack_from("<IHHHHI", data, at)
        name = data[at + name_offset:at + name_offset + name_length]
        out.append((name.decode("latin-1"), data[at + data_offset:at + data_offset + data_length]))
        if following == 0:
            break
        at += following
    return out


def log_creates(host, server):
    """Wrap SMB2 CREATE so that every request is recorded in calls.log."""
    original = server.hookSmb2Command(smb2.SMB2_CREATE, None)

    def create(connId, smbServer, recvPacket):
        answer = original(connId, smbServer, recvPacket)
        entry = {"share": None, "path": None, "status": answer[2]}
        try:
            request = smb2.SMB2Create(recvPacket["Data"])
            connData = smbServer.getConnectionData(connId)
            share = connData["ConnectedShares"].get(recvPacket["TreeID"], {})
            entry["share"] = share.get("shareName")
            entry["path"] = request["Buffer"][:request["NameLength"]].decode("utf-16le")
            entry["disposition"] = request["CreateDisposition"]
            entry["options"] = request["CreateOptions"]
            entry["access"] = request["DesiredAccess"]
            raw_contexts = b""
            if request["CreateContextsLength"]:
                start = request["CreateContextsOffset"] - 64
                raw_contexts = recvPacket["Data"][start:start + request["CreateContextsLength"]]
            contexts = create_contexts(raw_contexts)
            entry["contexts"] = [name for name, _ in contexts]
            entry["sd"] = None
            for name, value in contexts:
                if name == "SecD":
                    entry["sd"] = security_descriptor(value)
                    entry["sd_hex"] = value.hex()
        except Exception as e:  # a malformed request is worth a line too
            entry["parse_error"] = repr(e)
        host.log("CREATE " + json.dumps(entry, sort_keys=True))
        return answer

    server.hookSmb2Command(smb2.SMB2_CREATE, create)


STATUS_VIRUS_INFECTED = 0xC0000906


def antivirus(host, server, pattern):
    """EMULATOR_VIRUS=TEXT: the host's antivirus takes every file whose name holds
    TEXT as it is written, as Defender does: the WRITE fails with
    STATUS_VIRUS_INFECTED and the file is gone."""
    write = server.hookSmb2Command(smb2.SMB2_WRITE, None)

    def on_write(connId, smbServer, recvPacket):
        try:
            request = smb2.SMB2Write(recvPacket["Data"])
            record = opened(smbServer, connId, request["FileID"].getData())
            name = record.get("FileName", "") if record is not None else ""
        except Exception:
            name = ""
        if name and pattern in os.path.basename(name):
            host.log("VIRUS " + os.path.basename(name))
            try:
                os.unlink(name)
            except OSError:
                pass
            return [smb2.SMB2Error()], None, STATUS_VIRUS_INFECTED
        return write(connId, smbServer, recvPacket)

    server.hookSmb2Command(smb2.SMB2_WRITE, on_write)


def opened(smbServer, connId, file_id):
    """The impacket record of an open file, or None."""
    return smbServer.getConnectionData(connId)["OpenedFiles"].get(file_id)


def is_pipe(record):
    return record is not None and record["FileHandle"] == smbserver.PIPE_FILE_DESCRIPTOR


def read_answer(data, offset=0x50, length=None, remaining=0):
    length = len(data) if length is None else length
    return Raw(struct.pack("<HBBIII", 17, offset, 0, length, remaining, 0) + data)


def rpc_fragment(flags, call_id, stub_len, alloc_hint, frag_len=None, pipe=None):
    """A DCE/RPC response PDU (C706 12.6.4.10) with `stub_len` bytes of stub;
    sealed and signed when `pipe` is bound at packet privacy (a hostile server has
    the keys), so the client's length checks, not its signature check, stop it."""
    sealed = rpcauth.sealed_answer(pipe, flags, call_id, b"\x41" * (stub_len - 24), alloc_hint) if pipe else None
    if sealed is not None:
        return sealed
    body = struct.pack("<IHBB", alloc_hint, 0, 0, 0) + b"\x41" * stub_len
    frag_len = 16 + len(body) if frag_len is None else frag_len
    return struct.pack("<BBBB4sHHI", 5, 0, 2, flags, b"\x10\x00\x00\x00", frag_len, 0, call_id) + body


def ioctl_answer(request, output, count=None):
    count = len(output) if count is None else count
    return Raw(struct.pack("<HHI16sIIIIII", 49, 0, request["CtlCode"], request["FileID"].getData(),
                           0, 0, 0x70, count, 0, 0) + output)


def hostile(host, server, mode):
    """Answers a hostile server sends, still signed (see the module doc)."""
    read = server.hookSmb2Command(smb2.SMB2_READ, None)
    ioctl = server.hookSmb2Command(smb2.SMB2_IOCTL, None)
    query = server.hookSmb2Command(smb2.SMB2_QUERY_DIRECTORY, None)
    calls = {}  # pipe file id -> call id of the request being answered
    listed = {}  # connection -> names sent so far
    said = set()

    def note(what):
        """One calls.log line per kind of hostile answer: the test checks the attack happened."""
        if what not in said:
            said.add(what)
            host.log("HOSTILE %s %s" % (mode, what))

    def on_read(connId, smbServer, recvPacket):
        request = smb2.SMB2Read(recvPacket["Data"])
        record = opened(smbServer, connId, request["FileID"].getData())
        if mode == "hostile-read" and record is not None and not is_pipe(record):
            note("read of %s" % os.path.basename(record["FileName"]))
            return [read_answer(b"0" * request["Length"], remaining=0xFFFFFFFF)], None, STATUS_SUCCESS
        if mode == "hostile-read-length" and record is not None and not is_pipe(record):
            note("read of %s" % os.path.basename(record["FileName"]))
            return [read_answer(b"0", length=0xFFFFFFF0)], None, STATUS_SUCCESS
        if mode == "hostile-rpc" and is_pipe(record) and request["FileID"].getData() in calls:
            call_id = calls[request["FileID"].getData()]
            note("more fragments")
            # As many whole fragments as the READ asked for: the pipe is never empty.
            count = max(1, request["Length"] // 4280)
            pipe = os.path.basename(record["FileName"]).lower()
            data = b"".join(rpc_fragment(0, call_id, 4256, 0xFFFFFFF0, pipe=pipe) for _ in range(count))
            return [read_answer(data)], None, STATUS_SUCCESS
        if mode == "hostile-rpc-length" and is_pipe(record) and request["FileID"].getData() in calls:
            # The rest of the 64 KiB fragment the answer claimed, in junk.
            return [read_answer(b"\x41" * 4096)], None, STATUS_SUCCESS
        return read(connId, smbServer, recvPacket)

    def on_ioctl(connId, smbServer, recvPacket):
        request = smb2.SMB2Ioctl(recvPacket["Data"])
        pdu = request["Buffer"][:request["InputCount"]]
        # Binds (ptype 11) go through: the attack is on the answers to calls.
        if request["CtlCode"] == FSCTL_PIPE_TRANSCEIVE and len(pdu) >= 16 and pdu[2] == 0:
            call_id = struct.unpack_from("<I", pdu, 12)[0]
            if mode in ("hostile-rpc", "hostile-rpc-length", "hostile-ioctl-length"):
                note("answer to an RPC call")
            if mode == "hostile-rpc":
                calls[request["FileID"].getData()] = call_id
                record = opened(smbServer, connId, request["FileID"].getData())
                pipe = os.path.basename(record["FileName"]).lower() if record is not None else None
                fragment = rpc_fragment(0x01, call_id, 4256, 0xFFFFFFF0, pipe=pipe)
                return [ioctl_answer(request, fragment)], None, STATUS_SUCCESS
            if mode == "hostile-rpc-length":
                calls[request["FileID"].getData()] = call_id
                fragment = rpc_fragment(0x03, call_id, 40, 0xFFFFFFFF, frag_len=0xFFFF)
                return [ioctl_answer(request, fragment)], None, STATUS_SUCCESS
            if mode == "hostile-ioctl-length":
                fragment = rpc_fragment(0x03, call_id, 40, 40)
                return [ioctl_answer(request, fragment, count=0xFFFFFFF0)], None, STATUS_SUCCESS
        return ioctl(connId, smbServer, recvPacket)

    def on_query(connId, smbServer, recvPacket):
        request = smb2.SMB2QueryDirectory(recvPacket["Data"])
        if mode == "hostile-listing":
            note("listing")
            sent = listed.get(connId, 0)
            if sent >= 10_000_000:
                return [smb2.SMB2Error()], None, STATUS_NO_MORE_FILES
            entries, room = [], max(request["OutputBufferLength"], 4096)
            size = 0
            while size + 48 <= room and sent < 10_000_000:
                name = ("f%09d.tmp" % sent).encode("utf-16le")
                entry = struct.pack("<III", 0, sent, len(name)) + name
                entry += b"\x00" * (-len(entry) % 8)
                entries.append(entry)
                size += len(entry)
                sent += 1
            listed[connId] = sent
            chained = [struct.pack("<I", len(e)) + e[4:] for e in entries[:-1]] + entries[-1:]
            data = b"".join(chained)
            return [Raw(struct.pack("<HHI", 9, 0x48, len(data)) + data)], None, STATUS_SUCCESS
        if mode == "hostile-listing-offsets":
            note("listing")
            # Two entries: the first points at the second, whose NextEntryOffset wraps
            # (in 32 bits) back to the first. A parser that follows it never ends.
            names = ["pushinst.log".encode("utf-16le"), "pushinst.rc".encode("utf-16le")]
            entries = [struct.pack("<III", 0, 0, len(n)) + n for n in names]
            entries = [e + b"\x00" * (-len(e) % 8) for e in entries]
            first = struct.pack("<I", len(entries[0])) + entries[0][4:]
            second = struct.pack("<I", (-len(entries[0])) & 0xFFFFFFFF) + entries[1][4:]
            data = first + second
            return [Raw(struct.pack("<HHI", 9, 0x48, len(data)) + data)], None, STATUS_SUCCESS
        return query(connId, smbServer, recvPacket)

    server.hookSmb2Command(smb2.SMB2_READ, on_read)
    server.hookSmb2Command(smb2.SMB2_IOCTL, on_ioctl)
    server.hookSmb2Command(smb2.SMB2_QUERY_DIRECTORY, on_query)

    if mode == "hostile-credits":
        sign = smbserver.SMBSERVER.signSMBv2

        def granting(self, packet, key, padLength=0):
            note("credits")
            packet["CreditRequestResponse"] = 0xFFFF
            return sign(self, packet, key, padLength)

        smbserver.SMBSERVER.signSMBv2 = granting


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("listen")
    parser.add_argument("root")
    parser.add_argument("password")
    parser.add_argument("--mode", default="normal", choices=["normal", "deny-scm", "service-exists", "silent", "blocked"] + HOSTILE_MODES)
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
    rpcauth.install(server.getServer(), server, svcctl, atsvc, host.log, args.password, addr)
    log_creates(host, server.getServer())
    if os.environ.get("EMULATOR_VIRUS"):
        antivirus(host, server.getServer(), os.environ["EMULATOR_VIRUS"])
    if args.mode in HOSTILE_MODES:
        hostile(host, server.getServer(), args.mode)
    svcctl.start()
    atsvc.start()
    with open(os.path.join(args.root, "ready"), "w") as f:
        f.write("%d\n" % os.getpid())
    server.start()


if __name__ == "__main__":
    sys.exit(main())
