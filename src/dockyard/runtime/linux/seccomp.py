"""Install a seccomp filter with libseccomp (through ctypes), as runc does."""

from __future__ import annotations

import ctypes
import errno as errno_mod
import os

from dockyard.runtime.seccomp import Seccomp

__all__ = ["available", "install"]

_SCMP_FLTATR_CTL_NNP = 3
_SCMP_FLTATR_CTL_TSYNC = 4
_SCMP_FLTATR_CTL_LOG = 6
_SCMP_FLTATR_CTL_SSB = 7


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def _load() -> ctypes.CDLL | None:
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError:
        return None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    return lib


_LIB: list[ctypes.CDLL | None] = []


def _lib() -> ctypes.CDLL | None:
    if not _LIB:  # loaded on first use: only containers with a profile pay for it
        _LIB.append(_load())
    return _LIB[0]


def available() -> bool:
    return _lib() is not None


def _check(ret: int, what: str) -> None:
    if ret < 0:
        raise OSError(-ret, f"seccomp: {what}: {os.strerror(-ret)}")


def install(profile: Seccomp) -> None:
    """Build the filter and load it into the calling thread (it survives execve)."""
    lib = _lib()
    if lib is None:
        raise OSError(errno_mod.ENOSYS, "libseccomp is not installed")
    ctx = lib.seccomp_init(profile.default_action)
    if not ctx:
        raise OSError(errno_mod.EINVAL, "seccomp_init failed")
    try:
        # no_new_privs is the runtime's decision (process.noNewPrivileges), not libseccomp's.
        _check(lib.seccomp_attr_set(ctx, _SCMP_FLTATR_CTL_NNP, 0), "attr nnp")
        if "SECCOMP_FILTER_FLAG_LOG" in profile.flags:
            _check(lib.seccomp_attr_set(ctx, _SCMP_FLTATR_CTL_LOG, 1), "attr log")
        if "SECCOMP_FILTER_FLAG_SPEC_ALLOW" in profile.flags:
            _check(lib.seccomp_attr_set(ctx, _SCMP_FLTATR_CTL_SSB, 1), "attr ssb")
        for arch in profile.architectures:
            token = lib.seccomp_arch_resolve_name(arch.encode())
            if token == 0:
                continue
            ret = lib.seccomp_arch_add(ctx, token)
            if ret < 0 and -ret != errno_mod.EEXIST:
                _check(ret, f"arch {arch}")
        for rule in profile.rules:
            if rule.action == profile.default_action:
                continue  # libseccomp refuses rules that repeat the default
            conds = list(rule.args)
            # libseccomp allows one condition per argument in a rule; runc adds one rule per condition then.
            groups = [conds] if len({c.arg for c in conds}) == len(conds) else [[c] for c in conds]
            for name in rule.names:
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr < 0:
                    continue  # unknown on this kernel/arch: skipped, like runc
                for group in groups:
                    arr = (_ArgCmp * max(len(group), 1))(*[_ArgCmp(c.arg, c.op, c.value, c.value_two) for c in group])
                    _check(lib.seccomp_rule_add_array(ctx, rule.action, nr, len(group), arr), f"rule {name}")
        _check(lib.seccomp_load(ctx), "load")
    finally:
        lib.seccomp_release(ctx)
