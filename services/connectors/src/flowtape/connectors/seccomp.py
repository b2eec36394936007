"""The system calls user code may not make, as a classic BPF program for ``bwrap --seccomp``.

Namespaces already keep the code from the host; this narrows the kernel it can reach, the usual way into a
kernel bug: new namespaces (``unshare``, ``setns``, ``clone`` with namespace flags; ``clone3`` answers
ENOSYS so the C library falls back to ``clone``), mounts, keyrings, BPF, perf events, userfaultfd,
io_uring, ptrace, file handles, module loading, kexec, swap, accounting, reboot and the kernel log. They
fail with EPERM; everything else is allowed. A syscall of another ABI (i386 or x32 on x86-64) is refused.

Written out rather than built with libseccomp so the connectors need no C library for it; the numbers come
from the kernel's ``unistd_64.h`` (x86-64) and ``asm-generic/unistd.h`` (aarch64). On other architectures
there is no filter (:func:`program` returns None) and namespaces stand alone.
"""

from __future__ import annotations

import errno
import functools
import platform
import struct

_LD_ABS_W = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data (arg0: its low 32 bits, little-endian)
_X32_BIT = 0x40000000
#: CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET
_CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

_DENIED = (
    "unshare setns mount umount2 pivot_root mount_setattr move_mount open_tree fsopen fsconfig fsmount fspick "
    "keyctl add_key request_key bpf perf_event_open userfaultfd io_uring_setup io_uring_enter "
    "io_uring_register ptrace open_by_handle_at name_to_handle_at init_module finit_module delete_module "
    "kexec_load kexec_file_load reboot swapon swapoff acct syslog"
).split()


@functools.cache
def _architectures() -> dict[str, tuple[int, dict[str, int]]]:
    common = {"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428}
    common |= {"move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433}
    common |= {"clone3": 435, "mount_setattr": 442}
    x86_64 = {
        "clone": 56, "ptrace": 101, "syslog": 103, "pivot_root": 155, "acct": 163, "mount": 165, "umount2": 166,
        "swapon": 167, "swapoff": 168, "reboot": 169, "init_module": 175, "delete_module": 176, "kexec_load": 246,
        "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
        "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308, "finit_module": 313,
        "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323,
    }  # fmt: skip
    aarch64 = {
        "umount2": 39, "mount": 40, "pivot_root": 41, "acct": 89, "unshare": 97, "kexec_load": 104,
        "init_module": 105, "delete_module": 106, "syslog": 116, "ptrace": 117, "reboot": 142, "add_key": 217,
        "request_key": 218, "keyctl": 219, "clone": 220, "swapon": 224, "swapoff": 225, "perf_event_open": 241,
        "name_to_handle_at": 264, "open_by_handle_at": 265, "setns": 268, "finit_module": 273, "bpf": 280,
        "userfaultfd": 282, "kexec_file_load": 294,
    }  # fmt: skip
    return {"x86_64": (0xC000003E, x86_64 | common), "aarch64": (0xC00000B7, aarch64 | common)}


def syscall_numbers(machine: str | None = None) -> dict[str, int] | None:
    """The numbers of the system calls the filter looks at, on ``machine`` (default: this one)."""
    found = _architectures().get(machine or platform.machine())
    return None if found is None else dict(found[1])


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


@functools.cache
def program(machine: str | None = None) -> bytes | None:
    """The filter for this machine's architecture (``platform.machine()``), or None where there is none."""
    found = _architectures().get(machine or platform.machine())
    if found is None:
        return None
    arch, numbers = found
    deny, unsupported = _op(_RET, _ERRNO | errno.EPERM), _op(_RET, _ERRNO | errno.ENOSYS)
    ops = [_op(_LD_ABS_W, _ARCH), _op(_JEQ, arch, jt=1), unsupported, _op(_LD_ABS_W, _NR)]
    if arch == 0xC000003E:
        ops += [_op(_JGE, _X32_BIT, jf=1), unsupported]
    ops += [_op(_JEQ, numbers["clone3"], jf=1), unsupported]
    for name in _DENIED:
        ops += [_op(_JEQ, numbers[name], jf=1), deny]
    # clone: allowed unless it asks for a namespace; the argument is loaded last, so nothing follows it
    ops += [_op(_JEQ, numbers["clone"], jt=1), _op(_RET, _ALLOW)]
    ops += [_op(_LD_ABS_W, _ARG0), _op(_JSET, _CLONE_NAMESPACES, jf=1), deny, _op(_RET, _ALLOW)]
    return b"".join(ops)
