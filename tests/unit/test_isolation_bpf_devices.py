"""The v2 device filter program, run by a small interpreter of the eBPF instructions it uses."""

from __future__ import annotations

import struct

import pytest

from dockyard.runtime.bpf_devices import DEV_BLOCK, DEV_CHAR, Rule, compile_rules, encode, rules_with_defaults
from dockyard.runtime.devices import DEFAULT_DEVICE_RULES

MKNOD, READ, WRITE = 1, 2, 4
MASK32 = 0xFFFFFFFF


def run(code: bytes, kind: int, access: int, major: int, minor: int) -> int:
    """Interpret ``code`` on a bpf_cgroup_dev_ctx; raise on anything the filter should never contain."""
    ctx = struct.pack("<III", access << 16 | kind, major, minor)
    regs = [0] * 11
    pc = 0
    insns = [struct.unpack("<BBhi", code[i : i + 8]) for i in range(0, len(code), 8)]
    for _ in range(10_000):
        op, regbyte, off, imm = insns[pc]
        dst, src = regbyte & 0xF, regbyte >> 4
        pc += 1
        if op == 0x61:  # ldx w [src+off]; r1 is the context
            assert src == 1
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif op == 0x54:
            regs[dst] = regs[dst] & imm & MASK32
        elif op == 0x74:
            regs[dst] = (regs[dst] & MASK32) >> imm
        elif op == 0xBC:
            regs[dst] = regs[src] & MASK32
        elif op == 0x55:
            if regs[dst] != imm:
                pc += off
        elif op == 0x5D:
            if regs[dst] != regs[src]:
                pc += off
        elif op == 0xB7:
            regs[dst] = imm
        elif op == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {op:#x}")
    raise AssertionError("the program does not terminate")


def verdict(rules: list[Rule], kind: int, access: int, major: int, minor: int) -> bool:
    return run(encode(compile_rules(rules)), kind, access, major, minor) == 1


DOCKER_DEFAULT: list[Rule] = [
    (False, "a", None, None, "rwm"),
    (True, "c", 1, 3, "rwm"),
    (True, "c", 1, 5, "rwm"),
    (True, "c", 136, None, "rwm"),
    (False, "c", 10, 229, "rwm"),
]


@pytest.mark.parametrize(
    ("kind", "access", "major", "minor", "allowed"),
    [
        (DEV_CHAR, READ, 1, 3, True),  # /dev/null
        (DEV_CHAR, READ | WRITE, 1, 5, True),  # /dev/zero
        (DEV_CHAR, WRITE, 136, 7, True),  # a pty, any minor
        (DEV_BLOCK, READ, 1, 3, False),  # same numbers, wrong type
        (DEV_BLOCK, READ, 8, 0, False),  # a host disk
        (DEV_CHAR, READ, 10, 229, False),  # /dev/fuse: denied
        (DEV_CHAR, READ, 1, 1, False),  # /dev/mem: not listed
    ],
)
def test_dockers_default_rules(kind: int, access: int, major: int, minor: int, allowed: bool) -> None:
    assert verdict(DOCKER_DEFAULT, kind, access, major, minor) is allowed


def test_access_must_be_covered_by_the_rule() -> None:
    rules: list[Rule] = [(False, "a", None, None, "rwm"), (True, "b", 7, 0, "r")]
    assert verdict(rules, DEV_BLOCK, READ, 7, 0)
    assert not verdict(rules, DEV_BLOCK, WRITE, 7, 0)
    assert not verdict(rules, DEV_BLOCK, READ | WRITE, 7, 0)
    assert not verdict(rules, DEV_BLOCK, MKNOD, 7, 0)


def test_later_rules_win_and_allow_all_ends_the_program() -> None:
    rules: list[Rule] = [(True, "c", 1, 3, "rwm"), (False, "c", 1, 3, "w")]
    assert verdict(rules, DEV_CHAR, READ, 1, 3)
    assert not verdict(rules, DEV_CHAR, WRITE, 1, 3)
    privileged: list[Rule] = [(True, "a", None, None, "rwm")]
    prog = compile_rules(privileged)
    assert prog[-1][0] == 0x95 and len(prog) == 8  # prologue + "return 1": no dead code for the verifier
    assert verdict(privileged, DEV_BLOCK, READ | WRITE, 8, 0)


def test_runtime_defaults_allow_mknod_of_anything_but_not_opening_it() -> None:
    rules = rules_with_defaults([(False, "a", None, None, "rwm")], DEFAULT_DEVICE_RULES)
    assert verdict(rules, DEV_BLOCK, MKNOD, 8, 0)
    assert not verdict(rules, DEV_BLOCK, READ, 8, 0)
    assert verdict(rules, DEV_CHAR, READ | WRITE, 5, 2)  # /dev/ptmx
