"""Docker's seccomp profile format: parse and validate it, and turn it into ``linux.seccomp`` (pure).

A profile (``--security-opt seccomp=<file>``: the CLI sends the file's content)
has rules with conditions the OCI format lacks: ``includes``/``excludes`` by
capability, architecture and minimum kernel, and an ``archMap`` of native
architectures to their compat ones. :func:`to_oci` resolves them for one
container (its capabilities) on one host (its architecture and kernel), as
dockerd does when it builds the runtime spec.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.errors import InvalidArgument

__all__ = [
    "ACTIONS",
    "ARCHITECTURES",
    "OPERATORS",
    "ArgFilter",
    "Condition",
    "Profile",
    "SyscallRule",
    "go_arch",
    "native_seccomp_arch",
    "parse_profile",
    "to_oci",
]

ACTIONS = frozenset(
    {
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_LOG",
        "SCMP_ACT_NOTIFY",
    }
)
OPERATORS = frozenset(
    {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"}
)
ARCHITECTURES = frozenset(
    {
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_ARM",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_MIPS",
        "SCMP_ARCH_MIPS64",
        "SCMP_ARCH_MIPS64N32",
        "SCMP_ARCH_MIPSEL",
        "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_MIPSEL64N32",
        "SCMP_ARCH_PPC",
        "SCMP_ARCH_PPC64",
        "SCMP_ARCH_PPC64LE",
        "SCMP_ARCH_S390",
        "SCMP_ARCH_S390X",
        "SCMP_ARCH_PARISC",
        "SCMP_ARCH_PARISC64",
        "SCMP_ARCH_RISCV64",
        "SCMP_ARCH_LOONGARCH64",
    }
)
_FLAGS = frozenset(
    {
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    }
)

# uname -m -> Go's GOARCH (the names Docker's profile conditions use) and the native libseccomp arch.
_MACHINES = {
    "x86_64": ("amd64", "SCMP_ARCH_X86_64"),
    "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
    "armv7l": ("arm", "SCMP_ARCH_ARM"),
    "armv6l": ("arm", "SCMP_ARCH_ARM"),
    "i686": ("386", "SCMP_ARCH_X86"),
    "i386": ("386", "SCMP_ARCH_X86"),
    "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"),
    "ppc64": ("ppc64", "SCMP_ARCH_PPC64"),
    "s390x": ("s390x", "SCMP_ARCH_S390X"),
    "riscv64": ("riscv64", "SCMP_ARCH_RISCV64"),
    "mips64": ("mips64", "SCMP_ARCH_MIPS64"),
    "loongarch64": ("loong64", "SCMP_ARCH_LOONGARCH64"),
}


def go_arch(machine: str) -> str:
    """``uname -m`` -> GOARCH (``x86_64`` -> ``amd64``); unknown machines keep their name."""
    return _MACHINES.get(machine, (machine, ""))[0]


def native_seccomp_arch(machine: str) -> str:
    """``uname -m`` -> the SCMP_ARCH_* name of the native ABI ("" if unknown)."""
    return _MACHINES.get(machine, ("", ""))[1]


@dataclass(frozen=True)
class Condition:
    """``includes`` or ``excludes``: capabilities, GOARCH names, a minimum kernel (``"4.8"``)."""

    caps: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    min_kernel: tuple[int, int] | None = None


@dataclass(frozen=True)
class ArgFilter:
    index: int
    value: int
    value_two: int
    op: str

    def to_oci(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "value": self.value}
        if self.value_two:
            out["valueTwo"] = self.value_two
        out["op"] = self.op
        return out


@dataclass(frozen=True)
class SyscallRule:
    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[ArgFilter, ...] = ()
    includes: Condition = Condition()
    excludes: Condition = Condition()


@dataclass(frozen=True)
class Profile:
    default_action: str
    default_errno_ret: int | None = None
    architectures: tuple[str, ...] = ()
    arch_map: tuple[tuple[str, tuple[str, ...]], ...] = ()
    syscalls: tuple[SyscallRule, ...] = ()
    flags: tuple[str, ...] = ()
    listener_path: str = ""
    listener_metadata: str = ""


# --- parsing -------------------------------------------------------------------------------------


def _fail(msg: str) -> InvalidArgument:
    return InvalidArgument(f"invalid seccomp profile: {msg}")


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(f"{where} must be an object")
    return value


def _strs(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(f"{where} must be a list of strings")
    return tuple(value)


def _uint(value: Any, where: str, *, bits: int = 64) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise _fail(f"{where} must be an unsigned {bits}-bit integer")
    return value


def _opt_uint(value: Any, where: str) -> int | None:
    return None if value is None else _uint(value, where, bits=32)


def _action(value: Any, where: str) -> str:
    if not isinstance(value, str) or value not in ACTIONS:
        raise _fail(f"{where}: unknown action {value!r}")
    return value


def _kernel(value: Any, where: str) -> tuple[int, int] | None:
    if value in (None, ""):
        return None
    parts = str(value).split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise _fail(f'{where}: invalid kernel version {value!r}: expected "<major>.<minor>"')
    return int(parts[0]), int(parts[1])


def _condition(value: Any, where: str) -> Condition:
    d = _obj(value, where)
    return Condition(
        caps=_strs(d.get("caps"), f"{where}.caps"),
        arches=_strs(d.get("arches"), f"{where}.arches"),
        min_kernel=_kernel(d.get("minKernel"), f"{where}.minKernel"),
    )


def _arg(value: Any, where: str) -> ArgFilter:
    d = _obj(value, where)
    op = d.get("op")
    if not isinstance(op, str) or op not in OPERATORS:
        raise _fail(f"{where}: unknown operator {op!r}")
    index = _uint(d.get("index", 0), f"{where}.index")
    if index > 5:
        raise _fail(f"{where}.index must be 0..5 (a syscall has at most 6 arguments)")
    return ArgFilter(
        index, _uint(d.get("value", 0), f"{where}.value"), _uint(d.get("valueTwo", 0), f"{where}.valueTwo"), op
    )


def _rule(value: Any, where: str) -> SyscallRule:
    d = _obj(value, where)
    name = d.get("name")
    names = _strs(d.get("names"), f"{where}.names")
    if name is not None and names:
        raise _fail(f"{where}: use either 'name' or 'names', not both")
    if name is not None:
        if not isinstance(name, str):
            raise _fail(f"{where}.name must be a string")
        names = (name,)
    if not names or not all(names):
        raise _fail(f"{where}: names must not be empty")
    args = d.get("args")
    if args is not None and not isinstance(args, list):
        raise _fail(f"{where}.args must be a list")
    return SyscallRule(
        names=names,
        action=_action(d.get("action"), f"{where}.action"),
        errno_ret=_opt_uint(d.get("errnoRet"), f"{where}.errnoRet"),
        args=tuple(_arg(a, f"{where}.args[{i}]") for i, a in enumerate(args or ())),
        includes=_condition(d.get("includes"), f"{where}.includes"),
        excludes=_condition(d.get("excludes"), f"{where}.excludes"),
    )


def _arch(value: str, where: str) -> str:
    if value not in ARCHITECTURES:
        raise _fail(f"{where}: unknown architecture {value!r}")
    return value


def parse_profile(source: str | bytes | Mapping[str, Any]) -> Profile:
    """Parse a profile (JSON text or an already decoded object); every mistake is an InvalidArgument."""
    if isinstance(source, (str, bytes)):
        try:
            doc = json.loads(source)
        except ValueError as err:
            raise InvalidArgument(f"decoding seccomp profile failed: {err}") from None
    else:
        doc = source
    d = _obj(doc, "the profile")
    if not d:
        raise _fail("the profile is empty")
    architectures = tuple(_arch(a, "architectures") for a in _strs(d.get("architectures"), "architectures"))
    arch_map_doc = d.get("archMap")
    if architectures and arch_map_doc:
        raise _fail("use either 'architectures' or 'archMap', not both")
    if arch_map_doc is not None and not isinstance(arch_map_doc, list):
        raise _fail("archMap must be a list")
    arch_map = []
    for i, entry in enumerate(arch_map_doc or ()):
        e = _obj(entry, f"archMap[{i}]")
        arch = e.get("architecture")
        if not isinstance(arch, str):
            raise _fail(f"archMap[{i}].architecture must be a string")
        subs = _strs(e.get("subArchitectures"), f"archMap[{i}].subArchitectures")
        arch_map.append((_arch(arch, f"archMap[{i}]"), tuple(_arch(s, f"archMap[{i}]") for s in subs)))
    syscalls = d.get("syscalls")
    if syscalls is not None and not isinstance(syscalls, list):
        raise _fail("syscalls must be a list")
    flags = _strs(d.get("flags"), "flags")
    for flag in flags:
        if flag not in _FLAGS:
            raise _fail(f"unknown flag {flag!r}")
    listener = d.get("listenerPath") or ""
    if not isinstance(listener, str):
        raise _fail("listenerPath must be a string")
    metadata = d.get("listenerMetadata") or ""
    if not isinstance(metadata, str):
        raise _fail("listenerMetadata must be a string")
    profile = Profile(
        default_action=_action(d.get("defaultAction"), "defaultAction"),
        default_errno_ret=_opt_uint(d.get("defaultErrnoRet"), "defaultErrnoRet"),
        architectures=architectures,
        arch_map=tuple(arch_map),
        syscalls=tuple(_rule(s, f"syscalls[{i}]") for i, s in enumerate(syscalls or ())),
        flags=flags,
        listener_path=listener,
        listener_metadata=metadata,
    )
    if (
        profile.default_action == "SCMP_ACT_NOTIFY" or any(r.action == "SCMP_ACT_NOTIFY" for r in profile.syscalls)
    ) and (not profile.listener_path):
        raise _fail("SCMP_ACT_NOTIFY needs a listenerPath")
    return profile


# --- resolution for one container -----------------------------------------------------------------


def _applies(rule: SyscallRule, caps: frozenset[str], arch: str, kernel: tuple[int, int]) -> bool:
    inc, exc = rule.includes, rule.excludes
    if exc.arches and arch in exc.arches:
        return False
    if exc.caps and any(c in caps for c in exc.caps):
        return False
    if inc.arches and arch not in inc.arches:
        return False
    if inc.caps and not all(c in caps for c in inc.caps):
        return False
    return not (inc.min_kernel is not None and kernel < inc.min_kernel)


def to_oci(
    profile: Profile,
    capabilities: Iterable[str],
    *,
    machine: str,
    kernel: tuple[int, int],
) -> dict[str, Any]:
    """``linux.seccomp`` for a container holding ``capabilities`` on a ``machine`` (uname -m) host."""
    caps = frozenset(capabilities)
    arch = go_arch(machine)
    native = native_seccomp_arch(machine)
    arches = list(profile.architectures)
    for main, subs in profile.arch_map:
        if main == native:
            arches += [main, *subs]
    out: dict[str, Any] = {"defaultAction": profile.default_action}
    if profile.default_errno_ret is not None:
        out["defaultErrnoRet"] = profile.default_errno_ret
    out["architectures"] = list(dict.fromkeys(arches))
    if profile.flags:
        out["flags"] = list(profile.flags)
    if profile.listener_path:
        out["listenerPath"] = profile.listener_path
    if profile.listener_metadata:
        out["listenerMetadata"] = profile.listener_metadata
    syscalls = []
    for rule in profile.syscalls:
        if not _applies(rule, caps, arch, kernel):
            continue
        entry: dict[str, Any] = {"names": list(rule.names), "action": rule.action}
        if rule.errno_ret is not None:
            entry["errnoRet"] = rule.errno_ret
        if rule.args:
            entry["args"] = [a.to_oci() for a in rule.args]
        syscalls.append(entry)
    out["syscalls"] = syscalls
    return out
