"""The text of Docker's default AppArmor profile (``docker-default``), rendered from data.

The rules are Docker's (moby ``profiles/apparmor``): everything a normal
process needs is allowed (network, capabilities, files, umount), and on top of
that the container may not mount, may not write kernel knobs under /proc and
/sys (except its own /proc/<pid> entries, /proc/sys/kernel/shm* and the
cgroup tree), may not touch /proc/kcore, /proc/sysrq-trigger, /sys/firmware or
securityfs, and may exchange signals and ptrace only with processes of the
same profile (plus signals from the host and from the daemon).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DefaultProfileParams", "render_default_profile"]

# The profile applies to the container's processes wherever their files sit (paths
# outside the container's mount namespace, deleted files): AppArmor would otherwise
# deny access to files it cannot resolve to a path.
_FLAGS = "attach_disconnected,mediate_deleted"

_ALLOW = ("network", "capability", "file", "umount")

# Each entry: (why, rule). A writable file directly in /proc, a /proc entry that is
# neither a PID nor "sys", sysctls outside kernel.shm*, and two files that expose or
# crash the host.
_PROC_DENIES = (
    ("no writes to files directly in /proc", "deny @{PROC}/* w,"),
    (
        "no writes below /proc entries other than /proc/<pid> and /proc/sys",
        "deny @{PROC}/{[^1-9],[^1-9][^0-9],[^1-9s][^0-9y][^0-9s],[^1-9][^0-9][^0-9][^0-9/]*}/** w,",
    ),
    ("of /proc/sys only kernel/ may be written ...", "deny @{PROC}/sys/[^k]** w,"),
    ("... and of that only the shm* knobs (IPC-namespaced)", "deny @{PROC}/sys/kernel/{?,??,[^s][^h][^m]**} w,"),
    ("", "deny @{PROC}/sysrq-trigger rwklx,"),
    ("", "deny @{PROC}/kcore rwklx,"),
)

# /sys is read-only except the cgroup tree (/sys/fs/cgroup): spelled as "not f", "f but
# not fs", ... because AppArmor globs have no negative lookahead.
_SYS_DENIES = (
    "deny /sys/[^f]*/** wklx,",
    "deny /sys/f[^s]*/** wklx,",
    "deny /sys/fs/[^c]*/** wklx,",
    "deny /sys/fs/c[^g]*/** wklx,",
    "deny /sys/fs/cg[^r]*/** wklx,",
    "deny /sys/firmware/** rwklx,",
    "deny /sys/kernel/security/** rwklx,",
)


@dataclass(frozen=True)
class DefaultProfileParams:
    """What the rendered profile depends on.

    ``daemon_profile`` is the daemon's own confinement (``unconfined`` normally): it
    must be allowed to signal containers for ``docker kill``. ``tunables_global`` /
    ``abstractions_base`` say whether the host's /etc/apparmor.d has those include
    files; without ``tunables/global`` the profile defines ``@{PROC}`` itself.
    """

    name: str = "docker-default"
    daemon_profile: str = "unconfined"
    tunables_global: bool = False
    abstractions_base: bool = False


def _rule(line: str, why: str = "") -> str:
    return f"  {line}  # {why}" if why else f"  {line}"


def render_default_profile(params: DefaultProfileParams) -> str:
    """The profile source ``apparmor_parser`` loads; the same params always give the same text."""
    name = params.name
    out = ["#include <tunables/global>" if params.tunables_global else "@{PROC}=/proc/", ""]
    out.append(f"profile {name} flags=({_FLAGS}) {{")
    if params.abstractions_base:
        out.append(_rule("#include <abstractions/base>"))
    out.append("")
    out += [_rule(f"{what},") for what in _ALLOW]
    out.append("")
    out.append(_rule("signal (receive) peer=unconfined,", "privileged host processes"))
    if params.daemon_profile != "unconfined":
        out.append(_rule(f"signal (receive) peer={params.daemon_profile},", "the daemon (docker kill)"))
    out.append(_rule(f"signal (send,receive) peer={name},", "the container's own processes"))
    out.append("")
    out += [_rule(rule, why) for why, rule in _PROC_DENIES]
    out.append("")
    out.append(_rule("deny mount,"))
    out.append("")
    out += [_rule(rule) for rule in _SYS_DENIES]
    out.append("")
    # ps inside the container and `docker top` read other processes' /proc entries.
    out.append(_rule(f"ptrace (trace,read,tracedby,readby) peer={name},"))
    out.append("}")
    return "\n".join(out) + "\n"
