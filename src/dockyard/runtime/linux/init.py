"""The container side of create and exec: runs in the forked child, ends in execve or _exit.

Failures before the exec are reported to the parent over ``sync_fd`` as one JSON line.
The parent moves the child into its cgroups while the child sets itself up (the first
cgroup.procs write waits for an RCU grace period, ~10 ms); one byte on ``joined_fd``
says it is done, and the child waits for it before anything that depends on it.
"""

from __future__ import annotations

import json
import os
import signal
from typing import NamedTuple, NoReturn

from dockyard.errors import DockyardError
from dockyard.runtime.linux import apparmor, console, libc, namespaces, process, rootfs, seccomp
from dockyard.runtime.mountinfo import CgroupLayout
from dockyard.runtime.paths import ExecutableNotFound, ExecutablePermissionDenied, find_executable, path_from_env
from dockyard.runtime.seccomp import Seccomp
from dockyard.runtime.spec import Process, Spec
from dockyard.runtime.sysctls import sysctl_namespace

__all__ = ["ExecArgs", "InitArgs", "NotJoined", "error_kind", "exec_child", "init_child"]

PR_SET_PDEATHSIG = 1


class InitArgs(NamedTuple):
    spec: Spec
    process: Process
    bundle: str
    rootfs: str
    cgroup_paths: dict[str, str]
    layout: CgroupLayout
    join_fds: tuple[tuple[str, int], ...]  # (kind, fd) of namespaces given by path
    new_namespaces: tuple[str, ...]  # kinds to unshare (pid was already unshared by the parent)
    fifo_fd: int  # O_PATH fd of the exec fifo
    console_socket: str
    preserve_fds: int
    sync_fd: int
    joined_fd: int
    no_pivot: bool = False
    user_namespace: bool = False  # unshare one first; the parent writes the id maps
    new_pid_namespace: bool = False  # unshare pid inside the user namespace and fork the init
    maps_fd: int = -1
    hooks_fd: int = -1  # >= 0: stop after creating namespaces while the parent runs prestart/createRuntime hooks
    late_cgroups: bool = False  # the cgroups exist only once the parent has joined us (systemd makes them then)


class ExecArgs(NamedTuple):
    process: Process
    join_fds: tuple[tuple[str, int], ...]  # mount last
    console_socket: str
    preserve_fds: int
    sync_fd: int
    joined_fd: int
    seccomp: Seccomp | None = None  # the container's profile applies to exec'd processes too


def error_kind(exc: BaseException) -> str:
    if isinstance(exc, ExecutableNotFound):
        return "notfound"
    if isinstance(exc, ExecutablePermissionDenied):
        return "permission"
    if isinstance(exc, NotJoined):
        return "cgroups"
    return "other"


def _report(sync_fd: int, exc: BaseException) -> None:
    msg = exc.message if isinstance(exc, DockyardError) else str(exc) or type(exc).__name__
    try:
        os.write(sync_fd, json.dumps({"error": msg, "kind": error_kind(exc)}).encode() + b"\n")
    except OSError:
        pass


class NotJoined(RuntimeError):
    """The parent could not move us into the cgroups (it reports the real error itself)."""


def _wait_joined(fd: int) -> None:
    if os.read(fd, 1) != b"1":
        raise NotJoined("the runtime could not put the process into its cgroups")
    os.close(fd)


def _close_extra_fds(keep_below: int) -> None:
    """Whatever the caller leaked to us must not reach the container: mark it close-on-exec."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= keep_below:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


def _setup_tty(proc: Process, sock_fd: int, bind_console: bool) -> None:
    master, slave, slave_path = console.open_pty(proc.console_size)
    if bind_console:
        console.bind_console(slave_path)
    console.send_master(sock_fd, master)
    os.close(master)
    console.make_controlling(slave)


def _install_seccomp(profile: Seccomp | None) -> None:
    if profile is None:
        return
    # seccomp is imported with the module, not here: an exec'd child has joined the container's mounts by now
    if seccomp.available():  # create has warned otherwise
        seccomp.install(profile)


def _become(proc: Process, allowed_caps: int, profile: Seccomp | None) -> str:
    """AppArmor, rlimits, user, capabilities, cwd, seccomp; returns the resolved program path.

    Like runc: the AppArmor profile is requested first (it takes effect at execve), while we still
    hold every capability and no filter can refuse the write. Without no_new_privs the seccomp
    filter needs CAP_SYS_ADMIN, so it goes in before the capabilities are dropped; with it, as
    late as possible. Either way what runs after it (our own last syscalls up to execve) is what
    any sane profile allows.
    """
    if proc.apparmor_profile:
        apparmor.change_onexec(proc.apparmor_profile)
    process.apply_rlimits(proc.rlimits)
    if not proc.no_new_privileges:
        _install_seccomp(profile)
    process.apply_user_and_caps(proc, allowed_caps)
    os.chdir(proc.cwd)
    path = find_executable(proc.args[0], path_from_env(proc.env))
    if proc.no_new_privileges:
        process.set_no_new_privs()
        _install_seccomp(profile)
    return path


def _execve(path: str, proc: Process) -> NoReturn:
    # Handlers vanish on exec but "ignored" survives it: Python ignores SIGPIPE/SIGXFSZ, callers may ignore more.
    for sig in signal.valid_signals():
        try:
            if signal.getsignal(sig) == signal.SIG_IGN:
                signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    env = {}
    for item in proc.env:
        key, _, value = item.partition("=")
        env[key] = value
    os.execve(path, list(proc.args), env)
    raise AssertionError("unreachable")


def _enter_user_namespace(a: InitArgs) -> None:
    """unshare(CLONE_NEWUSER), let the parent map ids, become the namespace's root; maybe fork the init."""
    namespaces.unshare(["user"])
    os.write(a.sync_fd, b'{"userns": true}\n')
    if os.read(a.maps_fd, 1) != b"1":
        raise RuntimeError("the runtime could not write the id maps")
    os.close(a.maps_fd)
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    if a.new_pid_namespace:
        namespaces.unshare(["pid"])
        pid = os.fork()
        if pid:
            os.write(a.sync_fd, json.dumps({"pid": pid}).encode() + b"\n")
            os._exit(0)
        # The new init is pid 1 of its namespace; fork cleared its parent-death signal, and its parent
        # (this process) exits now anyway, so none is set: the runtime kills it itself if setup fails.


def _run_container_hooks(kind: str, spec: Spec, a: InitArgs) -> None:
    """createContainer / startContainer: run by the init itself, inside the container's namespaces."""
    hooks = spec.hooks.get(kind)
    if hooks:
        from dockyard.runtime.hooks import run_hooks, state_for_hooks

        status = "creating" if kind == "createContainer" else "running"
        state = state_for_hooks(spec.oci_version, "", status, os.getpid(), a.bundle, dict(spec.annotations))
        run_hooks(kind, hooks, state)


def init_child(a: InitArgs) -> NoReturn:
    """Body of the container's init. Never returns."""
    try:
        process.prctl_pdeathsig(signal.SIGKILL)
        os.umask(0o022)  # runc's default for what we create and for the process (process.user.umask overrides)
        allowed = process.host_cap_mask()
        # Now, while we are host root: a root mapped into a user namespace may not lower it.
        process.set_oom_score_adj(a.process.oom_score_adj)
        for kind, fd in a.join_fds:
            namespaces.join(fd, kind)
            os.close(fd)
        early: frozenset[str] = frozenset()
        if a.user_namespace:
            # Namespaces joined by path belong to the host's user namespace: their sysctls can only be
            # written from here, before we leave it (a root mapped into a new one may not).
            joined_kinds = {kind for kind, _ in a.join_fds}
            early = frozenset(k for k, _ in a.spec.sysctl if sysctl_namespace(k) in joined_kinds)
            rootfs.write_sysctls((k, v) for k, v in a.spec.sysctl if k in early)
            _enter_user_namespace(a)
        joined = False
        if "cgroup" in a.new_namespaces:  # the namespace's root is the cgroup we are in when unsharing
            _wait_joined(a.joined_fd)
            joined = True
        namespaces.unshare(list(a.new_namespaces))
        spec, proc = a.spec, a.process
        if "uts" in a.new_namespaces or any(k == "uts" for k, _ in a.join_fds):
            if spec.hostname:
                libc.sethostname(spec.hostname)
            if spec.domainname:
                libc.setdomainname(spec.domainname)
        sock_fd = console.connect_console_socket(a.console_socket) if proc.terminal else -1
        if a.hooks_fd >= 0:
            os.write(a.sync_fd, b'{"hooks": true}\n')
            if os.read(a.hooks_fd, 1) != b"1":
                raise RuntimeError("a prestart or createRuntime hook failed")
            os.close(a.hooks_fd)
        if a.late_cgroups and not joined:  # /sys/fs/cgroup binds them
            _wait_joined(a.joined_fd)
            joined = True
        rootfs.prepare_rootfs(spec, a.rootfs, a.bundle, a.cgroup_paths, a.layout)
        _run_container_hooks("createContainer", spec, a)
        if a.no_pivot:
            rootfs.move_into(a.rootfs)
        else:
            rootfs.pivot_into(a.rootfs)
        os.setsid()
        if proc.terminal:
            _setup_tty(proc, sock_fd, bind_console=True)
        rootfs.finish_rootfs(spec, early)
        path = _become(proc, allowed, spec.seccomp)
        if not joined:
            _wait_joined(a.joined_fd)
        process.prctl_pdeathsig(0)
        fifo = f"/proc/self/fd/{a.fifo_fd}"
        os.write(a.sync_fd, b'{"ready": true}\n')
        os.close(a.sync_fd)
    except BaseException as e:
        _report(a.sync_fd, e)
        os._exit(1)
    try:
        # Blocks until `start` opens the fifo for reading.
        fd = os.open(fifo, os.O_WRONLY | os.O_CLOEXEC)
        os.write(fd, b"0")
        os.close(fd)
        os.close(a.fifo_fd)
        _run_container_hooks("startContainer", a.spec, a)
        _close_extra_fds(3 + a.preserve_fds)
        _execve(path, proc)
    except BaseException as e:
        os.write(2, f"dockyard-runtime: {e}\n".encode(errors="replace"))
        os._exit(126 if isinstance(e, PermissionError) else 127)


def exec_child(a: ExecArgs) -> NoReturn:
    """Body of an exec'd process: join the container, become its process, execve. Never returns."""
    try:
        process.prctl_pdeathsig(signal.SIGKILL)
        os.umask(0o022)
        allowed = process.host_cap_mask()
        # Now, while we are host root: a root mapped into a user namespace may not lower it.
        process.set_oom_score_adj(a.process.oom_score_adj)
        proc = a.process
        # The socket lives on the host: connect before entering the container's mount namespace.
        sock_fd = console.connect_console_socket(a.console_socket) if proc.terminal else -1
        for kind, fd in a.join_fds:
            namespaces.join(fd, kind)
            os.close(fd)
        os.setsid()
        if proc.terminal:
            _setup_tty(proc, sock_fd, bind_console=False)
        path = _become(proc, allowed, a.seccomp)
        _wait_joined(a.joined_fd)
        process.prctl_pdeathsig(0)
        _close_extra_fds(3 + a.preserve_fds)
        os.set_inheritable(a.sync_fd, False)
        _execve(path, proc)
    except BaseException as e:
        _report(a.sync_fd, e)
        os._exit(1)
