"""Running Python code in another CPython process, for ``leaktrace attach`` (Linux x86-64).

The injector stops the target's main thread (alone) with ptrace, calls
``PyGILState_Ensure``, ``PyRun_SimpleString`` and ``PyGILState_Release`` in it (each
call returns to address 0, whose fault stops the thread again) and restores its
registers before letting it go. gdb's ``call`` does the same, but gdb 13 (Debian 12)
fails to write the extended register state on recent kernels, and then leaves the
target broken; saving and restoring only the general and the FXSAVE registers, as
done here, works on those kernels too. See docs/attach.md.

The code is run only while the main thread waits in a system call (as an idle
program does): stopping it in the middle of the allocator or of the interpreter,
whose locks it may hold, and calling into CPython from there could deadlock.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import signal
import struct
import time

PTRACE_CONT = 7
PTRACE_GETREGS = 12
PTRACE_SETREGS = 13
PTRACE_GETFPREGS = 14
PTRACE_SETFPREGS = 15
PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_EVENT_STOP = 128

# struct user_regs_struct of <sys/user.h>, in order
_REG_NAMES = (
    "r15",
    "r14",
    "r13",
    "r12",
    "rbp",
    "rbx",
    "r11",
    "r10",
    "r9",
    "r8",
    "rax",
    "rcx",
    "rdx",
    "rsi",
    "rdi",
    "orig_rax",
    "rip",
    "cs",
    "eflags",
    "rsp",
    "ss",
    "fs_base",
    "gs_base",
    "ds",
    "es",
    "fs",
    "gs",
)
_SYMBOLS = ("PyGILState_Ensure", "PyGILState_Release", "PyRun_SimpleString")
_RED_ZONE = 128
_WAIT_FOR_SYSCALL_S = 5.0


class InjectError(Exception):
    """The code could not be run in the target (one line, for the user)."""


class _Regs(ctypes.Structure):
    _fields_ = [(name, ctypes.c_ulonglong) for name in _REG_NAMES]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.restype = ctypes.c_long
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]


def _ptrace(request: int, pid: int, addr: int = 0, data: object = None) -> None:
    if _libc.ptrace(request, pid, addr, data) == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _dynamic_symbols(path: str, wanted: tuple[str, ...]) -> tuple[int, dict[str, int]]:
    """The ELF type of a file and the values of the wanted symbols of its .dynsym."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return 0, {}
    e_type = struct.unpack_from("<H", data, 16)[0]
    shoff = struct.unpack_from("<Q", data, 40)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 58)
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)
    ]
    found: dict[str, int] = {}
    for _, sh_type, _, _, offset, size, link, _, _, entsize in sections:
        if sh_type != 11 or not entsize:  # SHT_DYNSYM
            continue
        strtab = sections[link]
        str_off = strtab[4]
        for i in range(size // entsize):
            name_off, _, _, shndx, value, _ = struct.unpack_from(
                "<IBBHQQ", data, offset + i * entsize
            )
            if not shndx or not value:
                continue
            end = data.index(b"\0", str_off + name_off)
            name = data[str_off + name_off : end].decode("ascii", "replace")
            if name in wanted:
                found[name] = value
    return e_type, found


def find_python_symbols(pid: int) -> dict[str, int]:
    """Addresses of the CPython functions the injector calls, in the target's memory."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            maps = f.read().splitlines()
    except FileNotFoundError:
        raise InjectError(f"no process with pid {pid}") from None
    except PermissionError:
        raise InjectError(
            f"cannot read the memory map of process {pid}: permission denied"
        ) from None
    bases: dict[str, int] = {}
    for line in maps:
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and parts[5].startswith("/") and parts[5] not in bases:
            start = int(parts[0].split("-")[0], 16)
            bases[parts[5]] = start - int(parts[2], 16)
    for path, base in bases.items():
        name = os.path.basename(path)
        if not (name.startswith("libpython3") or name.startswith("python3") or name == "python"):
            continue
        try:
            e_type, symbols = _dynamic_symbols(f"/proc/{pid}/root{path}", _SYMBOLS)
        except (OSError, struct.error, ValueError, IndexError):
            continue
        if len(symbols) == len(_SYMBOLS):
            offset = base if e_type == 3 else 0  # ET_DYN is relocated, ET_EXEC is not
            return {name: offset + value for name, value in symbols.items()}
    raise InjectError(f"process {pid} is not a CPython interpreter (no libpython in its memory)")


def check_ptrace_allowed(pid: int) -> None:
    """Explains in one line why ptrace of pid would be refused, if it would."""
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            scope = int(f.read().strip() or 0)
    except (OSError, ValueError):
        scope = 0
    if scope >= 3:
        raise InjectError("ptrace is disabled on this system (kernel.yama.ptrace_scope = 3)")
    if scope >= 1 and os.geteuid() != 0:
        raise InjectError(
            f"ptrace of process {pid} is not permitted (kernel.yama.ptrace_scope = {scope}): "
            "run as root, or set it to 0 with 'sysctl kernel.yama.ptrace_scope=0'"
        )


class _Session:
    """A ptrace-stopped main thread whose registers are restored on close."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.pending_signal = 0
        # SEIZE and INTERRUPT stop only the main thread; ATTACH's SIGSTOP would stop
        # every thread, and the others would stay stopped after the detach.
        try:
            _ptrace(PTRACE_SEIZE, pid)
            _ptrace(PTRACE_INTERRUPT, pid)
        except OSError as e:
            if e.errno == errno.ESRCH:
                raise InjectError(f"no process with pid {pid}") from None
            if e.errno == errno.EPERM:
                raise InjectError(
                    f"ptrace of process {pid} is not permitted (EPERM): run as the same user "
                    "or as root, with CAP_SYS_PTRACE in containers, and check "
                    "kernel.yama.ptrace_scope"
                ) from None
            raise InjectError(f"cannot attach to process {pid}: {e.strerror}") from None
        self._wait_stop(PTRACE_EVENT_STOP)
        self.regs = _Regs()
        self.fpregs = ctypes.create_string_buffer(512)
        self._save()

    def _wait_stop(self, expected: int) -> None:
        """Waits for the thread to stop with the expected signal, or for the stop of
        PTRACE_INTERRUPT when expected is PTRACE_EVENT_STOP; remembers another signal
        that arrives meanwhile, to deliver it at the detach."""
        while True:
            _, status = os.waitpid(self.pid, 0x40000000)  # __WALL
            if os.WIFEXITED(status) or os.WIFSIGNALED(status):
                raise InjectError(f"process {self.pid} ended during the injection")
            event = status >> 16
            sig = os.WSTOPSIG(status)
            if event == PTRACE_EVENT_STOP:
                if expected == PTRACE_EVENT_STOP:
                    return
            elif sig == expected:
                return
            elif event == 0:
                self.pending_signal = sig
            _ptrace(PTRACE_CONT, self.pid, 0, 0)

    def _save(self) -> None:
        _ptrace(PTRACE_GETREGS, self.pid, 0, ctypes.addressof(self.regs))
        _ptrace(PTRACE_GETFPREGS, self.pid, 0, ctypes.addressof(self.fpregs))

    def wait_for_syscall(self) -> None:
        """Lets the thread run until it is stopped inside a system call."""
        deadline = time.monotonic() + _WAIT_FOR_SYSCALL_S
        while ctypes.c_longlong(self.regs.orig_rax).value < 0:
            if time.monotonic() > deadline:
                raise InjectError(
                    f"the main thread of process {self.pid} never waited in "
                    f"{_WAIT_FOR_SYSCALL_S:.0f} s (it is busy); try again when it is idle"
                )
            _ptrace(PTRACE_CONT, self.pid, 0, 0)
            time.sleep(0.01)
            _ptrace(PTRACE_INTERRUPT, self.pid)
            self._wait_stop(PTRACE_EVENT_STOP)
            self._save()

    def write(self, address: int, data: bytes) -> None:
        fd = os.open(f"/proc/{self.pid}/mem", os.O_RDWR)
        try:
            if os.pwrite(fd, data, address) != len(data):
                raise InjectError(f"cannot write the memory of process {self.pid}")
        finally:
            os.close(fd)

    def call(self, function: int, argument: int, stack_top: int) -> int:
        """Calls function(argument) on the thread; returns rax."""
        regs = _Regs.from_buffer_copy(self.regs)
        rsp = (stack_top & ~0xF) - 8  # as after a call: rsp + 8 is 16-byte aligned
        self.write(rsp, struct.pack("<Q", 0))  # return to address 0, which faults
        regs.rsp = rsp
        regs.rip = function
        regs.rdi = argument
        regs.rax = 0
        regs.orig_rax = ctypes.c_ulonglong(-1).value  # not in a syscall: no restart
        _ptrace(PTRACE_SETREGS, self.pid, 0, ctypes.addressof(regs))
        _ptrace(PTRACE_CONT, self.pid, 0, 0)
        self._wait_stop(signal.SIGSEGV)
        result = _Regs()
        _ptrace(PTRACE_GETREGS, self.pid, 0, ctypes.addressof(result))
        if result.rip != 0:
            raise InjectError(f"process {self.pid} crashed in an injected call")
        return int(result.rax)

    def close(self) -> None:
        try:
            _ptrace(PTRACE_SETFPREGS, self.pid, 0, ctypes.addressof(self.fpregs))
            _ptrace(PTRACE_SETREGS, self.pid, 0, ctypes.addressof(self.regs))
        finally:
            _ptrace(PTRACE_DETACH, self.pid, 0, self.pending_signal)


def run_python(pid: int, code: str) -> int:
    """Runs code in process pid's interpreter with the GIL; returns PyRun_SimpleString's
    result (0, or -1 when the code raised: the target then printed the traceback)."""
    if platform.machine() != "x86_64" or not os.path.exists(f"/proc/{pid}"):
        if not os.path.exists(f"/proc/{pid}"):
            raise InjectError(f"no process with pid {pid}")
        raise InjectError("attach works on Linux x86-64 only")
    check_ptrace_allowed(pid)
    symbols = find_python_symbols(pid)
    source = code.encode() + b"\0"
    session = _Session(pid)
    try:
        session.wait_for_syscall()
        # Below the red zone of the interrupted code: the source, then the call frames.
        source_at = (session.regs.rsp - _RED_ZONE - len(source)) & ~0xF
        session.write(source_at, source)
        stack_top = source_at - 64
        state = session.call(symbols["PyGILState_Ensure"], 0, stack_top)
        result = session.call(symbols["PyRun_SimpleString"], source_at, stack_top)
        session.call(symbols["PyGILState_Release"], state & 0xFFFFFFFF, stack_top)
    finally:
        session.close()
    return ctypes.c_int(result & 0xFFFFFFFF).value
