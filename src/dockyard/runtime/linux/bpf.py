"""Load a cgroup device program and attach it to a v2 cgroup (bpf(2) through ctypes)."""

from __future__ import annotations

import ctypes
import os
import platform

from dockyard.runtime.bpf_devices import Rule, compile_rules, encode

__all__ = ["attach_device_filter"]

_SYS_BPF = {"x86_64": 321, "aarch64": 280, "armv7l": 386, "ppc64le": 361, "s390x": 351, "riscv64": 280}
_BPF_PROG_LOAD = 5
_BPF_PROG_ATTACH = 8
_BPF_PROG_TYPE_CGROUP_DEVICE = 15
_BPF_CGROUP_DEVICE = 6
_BPF_F_ALLOW_MULTI = 2
_ATTR_SIZE = 128  # larger than any union bpf_attr member we fill; the rest stays zero


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    nr = _SYS_BPF.get(platform.machine())
    if nr is None:
        raise OSError(38, f"bpf(2) number unknown on {platform.machine()}")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    ret = int(libc.syscall(ctypes.c_long(nr), ctypes.c_int(cmd), attr, ctypes.c_uint(_ATTR_SIZE)))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bpf({cmd}): {os.strerror(err)}")
    return ret


def _load(rules: list[Rule]) -> int:
    code = encode(compile_rules(rules))
    insns = ctypes.create_string_buffer(code, len(code))
    license_ = ctypes.create_string_buffer(b"Apache")
    log = ctypes.create_string_buffer(65536)
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    # union bpf_attr, BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, log_level, log_size, log_buf
    ctypes.memmove(
        attr,
        (ctypes.c_uint32 * 2)(_BPF_PROG_TYPE_CGROUP_DEVICE, len(code) // 8),
        8,
    )
    ctypes.memmove(
        ctypes.addressof(attr) + 8, (ctypes.c_uint64 * 2)(ctypes.addressof(insns), ctypes.addressof(license_)), 16
    )
    ctypes.memmove(ctypes.addressof(attr) + 24, (ctypes.c_uint32 * 2)(1, len(log)), 8)
    ctypes.memmove(ctypes.addressof(attr) + 32, (ctypes.c_uint64 * 1)(ctypes.addressof(log)), 8)
    try:
        return _bpf(_BPF_PROG_LOAD, attr)
    except OSError as e:
        detail = log.value.decode(errors="replace").strip().splitlines()[-3:]
        raise OSError(e.errno, f"loading the device filter failed: {e.strerror}: {' / '.join(detail)}") from None


def attach_device_filter(cgroup_dir: str, rules: list[Rule]) -> None:
    """Allow only what ``rules`` allow for processes in ``cgroup_dir`` (programs stack: all must agree)."""
    prog = _load(rules)
    try:
        cg = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            attr = ctypes.create_string_buffer(_ATTR_SIZE)
            # BPF_PROG_ATTACH: target_fd, attach_bpf_fd, attach_type, attach_flags
            ctypes.memmove(attr, (ctypes.c_uint32 * 4)(cg, prog, _BPF_CGROUP_DEVICE, _BPF_F_ALLOW_MULTI), 16)
            _bpf(_BPF_PROG_ATTACH, attr)
        finally:
            os.close(cg)
    finally:
        os.close(prog)  # the cgroup holds the program now
