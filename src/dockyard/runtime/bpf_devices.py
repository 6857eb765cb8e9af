"""The cgroup v2 device filter: ``linux.resources.devices`` compiled to an eBPF program (pure).

Cgroup v2 has no devices.allow file; the kernel runs a BPF_PROG_TYPE_CGROUP_DEVICE
program on every device open/mknod instead (what runc's devicefilter builds).
The program reads ``struct bpf_cgroup_dev_ctx {u32 access_type; u32 major; u32 minor}``
(access_type = access << 16 | type) and returns 1 to allow, 0 to deny. Rules are
tried last to first, so a later rule overrides an earlier one, as writes to a v1
devices cgroup do; no match denies.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

__all__ = ["DEV_BLOCK", "DEV_CHAR", "Rule", "compile_rules", "encode", "rules_with_defaults"]

Rule = tuple[bool, str, "int | None", "int | None", str]  # (allow, type a|b|c, major, minor, access)

DEV_BLOCK, DEV_CHAR = 1, 2  # BPF_DEVCG_DEV_*
_ACC = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD/READ/WRITE

# opcodes (linux/bpf_common.h, linux/bpf.h)
_LDX_MEM_W = 0x61
_ALU32_AND_K = 0x54
_ALU32_RSH_K = 0x74
_ALU32_MOV_X = 0xBC
_JMP_JNE_K = 0x55
_ALU64_MOV_K = 0xB7
_EXIT = 0x95

Insn = tuple[int, int, int, int, int]  # (code, dst, src, off, imm)


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> Insn:
    return (code, dst, src, off, imm)


_PROLOGUE: tuple[Insn, ...] = (
    _insn(_LDX_MEM_W, 2, 1, 0),  # r2 = ctx->access_type
    _insn(_ALU32_AND_K, 2, imm=0xFFFF),  # r2 = type
    _insn(_LDX_MEM_W, 3, 1, 0),
    _insn(_ALU32_RSH_K, 3, imm=16),  # r3 = access
    _insn(_LDX_MEM_W, 4, 1, 4),  # r4 = major
    _insn(_LDX_MEM_W, 5, 1, 8),  # r5 = minor
)


def _block(rule: Rule) -> list[Insn]:
    """Instructions that return the rule's verdict when it matches, else fall through to the next block."""
    allow, kind, major, minor, access = rule
    tests: list[list[Insn]] = []
    if kind in ("b", "c"):
        tests.append([_insn(_JMP_JNE_K, 2, imm=DEV_BLOCK if kind == "b" else DEV_CHAR)])
    bits = sum(_ACC[c] for c in set(access) if c in _ACC)
    if bits != 7:
        # Matches when every requested access is in the rule's: (access & bits) == access.
        tests.append([_insn(_ALU32_MOV_X, 1, 3), _insn(_ALU32_AND_K, 1, imm=bits), _insn(0x5D, 1, 3)])  # JNE r1, r3
    if major is not None:
        tests.append([_insn(_JMP_JNE_K, 4, imm=major)])
    if minor is not None:
        tests.append([_insn(_JMP_JNE_K, 5, imm=minor)])
    verdict = [_insn(_ALU64_MOV_K, 0, imm=1 if allow else 0), _insn(_EXIT)]
    flat = [i for t in tests for i in t]
    out: list[Insn] = []
    for pos, insn in enumerate(flat):
        if insn[0] in (_JMP_JNE_K, 0x5D):
            skip = len(flat) - pos - 1 + len(verdict)  # to the first instruction after this block
            insn = (insn[0], insn[1], insn[2], skip, insn[4])
        out.append(insn)
    return out + verdict


def compile_rules(rules: Sequence[Rule]) -> list[Insn]:
    """The program for ``rules`` (in spec order: later ones win)."""
    prog = list(_PROLOGUE)
    for rule in reversed(rules):
        block = _block(rule)
        prog += block
        if len(block) == 2:
            return prog  # an unconditional rule decides everything left; the verifier refuses dead code
    prog += [_insn(_ALU64_MOV_K, 0, imm=0), _insn(_EXIT)]
    return prog


def encode(prog: Sequence[Insn]) -> bytes:
    """``struct bpf_insn[]`` as the kernel takes it (little-endian register nibbles: dst low, src high)."""
    return b"".join(struct.pack("<BBhi", code, (src << 4) | dst, off, imm) for code, dst, src, off, imm in prog)


def rules_with_defaults(rules: Sequence[Rule], defaults: Sequence[str]) -> list[Rule]:
    """The spec's rules followed by the runtime's always-allowed devices (v1 devices-cgroup syntax)."""
    out = list(rules)
    for text in defaults:
        kind, numbers, access = text.split()
        major, minor = numbers.split(":")
        out.append((True, kind, None if major == "*" else int(major), None if minor == "*" else int(minor), access))
    return out
