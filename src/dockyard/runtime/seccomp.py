"""``linux.seccomp`` as values, and its names -> libseccomp numbers (pure)."""

from __future__ import annotations

from typing import Any, NamedTuple

from dockyard.errors import InvalidArgument

__all__ = ["ArgCondition", "Seccomp", "SyscallRule", "action_value", "arch_name", "compare_op", "parse_seccomp"]

# libseccomp's action values (seccomp.h); ERRNO and TRACE carry their data in the low 16 bits.
_ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000,
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000,
    "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
}
_EPERM = 1

# OCI architecture names -> libseccomp's names for seccomp_arch_resolve_name
_ARCHES = {
    "SCMP_ARCH_X86": "x86",
    "SCMP_ARCH_X86_64": "x86_64",
    "SCMP_ARCH_X32": "x32",
    "SCMP_ARCH_ARM": "arm",
    "SCMP_ARCH_AARCH64": "aarch64",
    "SCMP_ARCH_MIPS": "mips",
    "SCMP_ARCH_MIPS64": "mips64",
    "SCMP_ARCH_MIPS64N32": "mips64n32",
    "SCMP_ARCH_MIPSEL": "mipsel",
    "SCMP_ARCH_MIPSEL64": "mipsel64",
    "SCMP_ARCH_MIPSEL64N32": "mipsel64n32",
    "SCMP_ARCH_PPC": "ppc",
    "SCMP_ARCH_PPC64": "ppc64",
    "SCMP_ARCH_PPC64LE": "ppc64le",
    "SCMP_ARCH_S390": "s390",
    "SCMP_ARCH_S390X": "s390x",
    "SCMP_ARCH_RISCV64": "riscv64",
}

# enum scmp_compare
_OPS = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}


class ArgCondition(NamedTuple):
    arg: int  # which syscall argument (0..5)
    value: int
    value_two: int
    op: int


class SyscallRule(NamedTuple):
    names: tuple[str, ...]
    action: int
    args: tuple[ArgCondition, ...] = ()


class Seccomp(NamedTuple):
    default_action: int
    architectures: tuple[str, ...]  # libseccomp names
    rules: tuple[SyscallRule, ...]
    flags: tuple[str, ...] = ()


def action_value(name: str, errno_ret: int | None = None) -> int:
    """``"SCMP_ACT_ERRNO"`` (+ errnoRet, EPERM by default as in runc) -> the filter's return value."""
    try:
        base = _ACTIONS[name]
    except KeyError:
        raise InvalidArgument(f"unsupported seccomp action {name!r}") from None
    if name == "SCMP_ACT_ERRNO":
        return base | ((_EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    if name == "SCMP_ACT_TRACE":
        return base | ((_EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    return base


def arch_name(oci: str) -> str:
    try:
        return _ARCHES[oci]
    except KeyError:
        raise InvalidArgument(f"unsupported seccomp architecture {oci!r}") from None


def compare_op(oci: str) -> int:
    try:
        return _OPS[oci]
    except KeyError:
        raise InvalidArgument(f"unsupported seccomp operator {oci!r}") from None


def parse_seccomp(doc: Any) -> Seccomp | None:
    """``linux.seccomp`` -> :class:`Seccomp` (None when absent)."""
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise InvalidArgument("linux.seccomp: expected an object")
    default_errno = doc.get("defaultErrnoRet")
    default = action_value(str(doc.get("defaultAction") or ""), default_errno)
    rules = []
    for entry in doc.get("syscalls") or ():
        if not isinstance(entry, dict):
            raise InvalidArgument("linux.seccomp.syscalls[]: expected an object")
        names = tuple(str(n) for n in entry.get("names") or ())
        if not names:
            raise InvalidArgument("linux.seccomp.syscalls[]: names must not be empty")
        errno_ret = entry.get("errnoRet", default_errno)
        args = tuple(
            ArgCondition(
                arg=int(a.get("index", 0)),
                value=int(a.get("value", 0)),
                value_two=int(a.get("valueTwo", 0)),
                op=compare_op(str(a.get("op") or "")),
            )
            for a in entry.get("args") or ()
        )
        if any(not 0 <= a.arg < 6 for a in args):
            raise InvalidArgument("linux.seccomp: argument index must be 0..5")
        rules.append(SyscallRule(names, action_value(str(entry.get("action") or ""), errno_ret), args))
    return Seccomp(
        default_action=default,
        architectures=tuple(arch_name(str(a)) for a in doc.get("architectures") or ()),
        rules=tuple(rules),
        flags=tuple(str(f) for f in doc.get("flags") or ()),
    )
