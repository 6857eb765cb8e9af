"""runc's operations on one container: create, start, state, kill, delete, run, exec, pause, resume, ps.

The process that calls :func:`create` forks the container's init directly, so the
init is its child; once ``create`` returns the caller may exit and the init is
reparented to the nearest child subreaper (the shim).
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound, NotImplementedYet, Unavailable
from dockyard.runtime.hooks import run_hooks, state_for_hooks
from dockyard.runtime.linux import apparmor, libc, namespaces
from dockyard.runtime.linux.cgroups import (
    CgroupManager,
    cgroup_relpath,
    detect_layout,
    manager_for,
    manager_from_paths,
)
from dockyard.runtime.linux.init import ExecArgs, InitArgs, exec_child, init_child
from dockyard.runtime.paths import ExecutableNotFound, ExecutablePermissionDenied
from dockyard.runtime.spec import Process, Resources, Spec, host_id, load_spec
from dockyard.runtime.state import (
    FIFO_NAME,
    ContainerState,
    create_container_dir,
    load_state,
    process_start_time,
    process_status,
    rfc3339_now,
    save_state,
    write_atomic,
)

__all__ = [
    "CreateOptions",
    "create",
    "delete",
    "exec_process",
    "kill",
    "list_containers",
    "pause",
    "ps",
    "resume",
    "start",
    "state",
    "status_of",
    "update",
    "wait_exit_code",
]

_WAIT = 10.0  # seconds: bound on waiting for a killed container to die


class CreateOptions(NamedTuple):
    bundle: str
    pid_file: str = ""
    console_socket: str = ""
    preserve_fds: int = 0
    no_pivot: bool = False
    foreground: bool = False  # the caller will wait for the init (run): needed with a user namespace
    systemd_cgroup: bool = False  # runc's --systemd-cgroup: the cgroup is a transient systemd scope


def _raise_child_error(msg: dict[str, Any]) -> None:
    if "error" not in msg:
        return
    text = str(msg.get("error") or "container init failed")
    kind = msg.get("kind")
    if kind == "notfound":
        raise ExecutableNotFound(text)
    if kind == "permission":
        raise ExecutablePermissionDenied(text)
    raise Unavailable(text)


class _SyncReader:
    """JSON lines from the child; None at EOF (the child exec'd or died)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buf = b""

    def next(self) -> dict[str, Any] | None:
        while b"\n" not in self._buf:
            chunk = os.read(self._fd, 65536)
            if not chunk:
                if not self._buf:
                    return None
                self._buf += b"\n"
                break
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        try:
            msg = json.loads(line)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            return {"error": line.decode(errors="replace") or "container init exited during setup"}
        return msg

    def expect(self, key: str) -> dict[str, Any]:
        """The next message, which must carry ``key``; the child's error (or its death) raises."""
        msg = self.next()
        if msg is None:
            raise Unavailable("container init exited during setup")
        _raise_child_error(msg)
        if key not in msg:
            raise Unavailable(f"unexpected message from container init: {msg}")
        return msg


def _close(fds: list[int], fd: int) -> None:
    fds.remove(fd)
    os.close(fd)


def _reap(pid: int) -> int:
    """waitpid that survives EINTR; returns the raw status (0 when not our child)."""
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return 0


def _fork_into_pid_ns(pidns_fd: int) -> int:
    """Fork a child in a pid namespace (-1: a new one, else the one ``pidns_fd`` names).

    Only the child moves: the caller's namespace for later children is restored.
    """
    own = os.open("/proc/self/ns/pid_for_children", os.O_RDONLY | os.O_CLOEXEC)
    pid = -1
    try:
        if pidns_fd < 0:
            libc.unshare(namespaces.CLONE_NEWPID)
        else:
            libc.setns(pidns_fd, namespaces.CLONE_NEWPID)
        pid = os.fork()
    finally:
        if pid != 0:
            libc.setns(own, namespaces.CLONE_NEWPID)
            os.close(own)
    return pid


def _join_and_sync(
    cgroups: CgroupManager, pid: int, fds: list[int], joined_w: int, sync: _SyncReader
) -> dict[str, Any] | None:
    """Put the child into its cgroups, tell it so, and raise whatever it reports as failed.

    Returns the child's next message (None at EOF: for exec, a successful execve)."""
    join_error: OSError | None = None
    try:
        cgroups.join(pid)
        os.write(joined_w, b"1")
    except BrokenPipeError:
        pass  # the child is gone already: its own report says why
    except OSError as e:
        join_error = e
    _close(fds, joined_w)  # on failure the child reads EOF and gives up
    msg = sync.next()
    # The child's own failure is the cause, unless it only gave up because the join failed.
    if msg is not None and not (join_error is not None and msg.get("kind") == "cgroups"):
        _raise_child_error(msg)
    if join_error is not None:
        raise Unavailable(f"cannot join the container's cgroups: {join_error}")
    return msg


_PR_SET_CHILD_SUBREAPER = 36


def _write_id_maps(
    pid: int, uid_maps: tuple[tuple[int, int, int], ...], gid_maps: tuple[tuple[int, int, int], ...]
) -> None:
    for name, maps in (("uid_map", uid_maps), ("gid_map", gid_maps)):
        text = "".join(f"{inside} {outside} {size}\n" for inside, outside, size in maps)
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write(text)


def _seccomp_available() -> bool:
    from dockyard.runtime.linux import seccomp

    return seccomp.available()


def _check_apparmor(proc: Process) -> None:
    """A profile on a host without AppArmor is refused, as runc does (the daemon leaves it out there)."""
    if proc.apparmor_profile and not apparmor.enabled():
        raise InvalidArgument(f"unable to apply apparmor profile: {apparmor.ERR_NOT_ENABLED}")


def _check_spec(spec: Spec, opts: CreateOptions, warn: Callable[[str], None] | None) -> Process:
    """Refuse what we cannot run, warn about what we will not apply; returns the process."""
    if spec.process is None:
        raise InvalidArgument("config.json has no process")
    if spec.process.terminal and not opts.console_socket:
        raise InvalidArgument("terminal: true needs --console-socket")
    if spec.namespace("mount") is None:
        raise InvalidArgument("the container needs a mount namespace")
    userns = spec.namespace("user")
    if userns is not None:
        if userns.path:
            raise NotImplementedYet("joining a user namespace by path is not supported yet")
        if not spec.uid_mappings or not spec.gid_mappings:
            raise InvalidArgument("a user namespace needs linux.uidMappings and linux.gidMappings")
    _check_apparmor(spec.process)
    if warn is not None and spec.seccomp is not None and not _seccomp_available():
        warn("libseccomp is not installed: the container runs without its seccomp filter")
    return spec.process


def _open_namespaces(spec: Spec, fds: list[int]) -> tuple[list[tuple[str, int]], int]:
    """fds of the namespaces given by path: (kind, fd) to join in order (mount last), and the pid one (or -1)."""
    join: list[tuple[str, int]] = []
    pidns_fd = -1
    for ns in spec.namespaces:
        if ns.path:
            fd = namespaces.open_ns(ns.path)
            fds.append(fd)
            if ns.type == "pid":
                pidns_fd = fd
            else:
                join.append((ns.type, fd))
    join.sort(key=lambda kv: kv[0] == "mount")
    return join, pidns_fd


def create(root: str, container_id: str, opts: CreateOptions, warn: Callable[[str], None] | None = None) -> int:
    """Set the container up and leave its init blocked on the exec fifo; returns the init's pid."""
    bundle = os.path.realpath(opts.bundle)
    spec = load_spec(bundle)
    process = _check_spec(spec, opts, warn)
    userns = spec.namespace("user")
    rootfs = spec.root_path if spec.root_path.startswith("/") else f"{bundle}/{spec.root_path}"
    rootfs = os.path.realpath(rootfs)
    if not os.path.isdir(rootfs):
        raise InvalidArgument(f"rootfs {rootfs} is not a directory")

    layout = detect_layout()
    systemd_unit = ""
    if opts.systemd_cgroup:  # asks systemd where the scope will be: before anything needs cleaning up
        from dockyard.runtime.linux.systemd import new_systemd_cgroups

        scope = new_systemd_cgroups(layout, spec.cgroups_path, container_id)
        cgroups: CgroupManager = scope
        systemd_unit = scope.unit
    else:
        cgroups = manager_for(layout, cgroup_relpath(spec.cgroups_path, container_id))
    directory = create_container_dir(root, container_id)
    fds: list[int] = []
    pid = 0
    try:
        fifo = f"{directory}/{FIFO_NAME}"
        os.mkfifo(fifo, 0o600)
        os.chmod(fifo, 0o622)  # the init opens it after switching to the container's user; not umask's call
        if userns is not None:  # the init opens it as the namespace's root
            os.chown(fifo, host_id(spec.uid_mappings, 0), host_id(spec.gid_mappings, 0))
        fifo_fd = os.open(fifo, os.O_PATH | os.O_CLOEXEC)
        fds.append(fifo_fd)
        join, pidns_fd = _open_namespaces(spec, fds)
        pid_ns = spec.namespace("pid")
        new = tuple(ns.type for ns in spec.namespaces if not ns.path and ns.type not in ("pid", "user"))
        # In a new user namespace the child makes the pid namespace itself, so that the user namespace owns it.
        child_makes_pidns = userns is not None and pid_ns is not None and not pid_ns.path
        cgroups.create(spec.resources)
        r, w = os.pipe2(os.O_CLOEXEC)
        joined_r, joined_w = os.pipe2(os.O_CLOEXEC)
        maps_r, maps_w = os.pipe2(os.O_CLOEXEC)
        hooks_r, hooks_w = os.pipe2(os.O_CLOEXEC)
        fds += [r, w, joined_r, joined_w, maps_r, maps_w, hooks_r, hooks_w]
        runtime_hooks = bool(spec.hooks.get("prestart") or spec.hooks.get("createRuntime"))
        args = InitArgs(
            spec=spec,
            process=process,
            bundle=bundle,
            rootfs=rootfs,
            cgroup_paths=cgroups.paths,
            layout=layout,
            join_fds=tuple(join),
            new_namespaces=new,
            fifo_fd=fifo_fd,
            console_socket=opts.console_socket,
            preserve_fds=opts.preserve_fds,
            sync_fd=w,
            joined_fd=joined_r,
            no_pivot=opts.no_pivot,
            user_namespace=userns is not None,
            new_pid_namespace=child_makes_pidns,
            maps_fd=maps_r,
            hooks_fd=hooks_r if runtime_hooks else -1,
            late_cgroups=bool(systemd_unit),
        )
        if userns is not None and opts.foreground and child_makes_pidns:
            # The init will be our grandchild: adopt it when its parent exits, to wait for it.
            libc.prctl(_PR_SET_CHILD_SUBREAPER, 1)
        pid = os.fork() if pid_ns is None or child_makes_pidns else _fork_into_pid_ns(pidns_fd)
        if pid == 0:
            init_child(args)
        _close(fds, w)
        _close(fds, joined_r)
        _close(fds, maps_r)
        _close(fds, hooks_r)
        sync = _SyncReader(r)
        if userns is not None:
            sync.expect("userns")
            _write_id_maps(pid, spec.uid_mappings, spec.gid_mappings)
            os.write(maps_w, b"1")
            if child_makes_pidns:
                middle, pid = pid, int(sync.expect("pid")["pid"])
                _reap(middle)
        msg = _join_and_sync(cgroups, pid, fds, joined_w, sync)
        if msg is not None and msg.get("hooks"):
            # Namespaces exist, nothing is mounted yet: prestart and createRuntime hooks run now, from here.
            state = state_for_hooks(spec.oci_version, container_id, "creating", pid, bundle, dict(spec.annotations))
            for kind in ("prestart", "createRuntime"):
                run_hooks(kind, spec.hooks.get(kind), state)
            os.write(hooks_w, b"1")
            msg = sync.next()
        if msg is None or not msg.get("ready"):
            raise Unavailable("container init exited during setup")
        st = ContainerState(
            id=container_id,
            pid=pid,
            bundle=bundle,
            rootfs=rootfs,
            created=rfc3339_now(),
            annotations=dict(spec.annotations),
            oci_version=spec.oci_version,
            start_time=process_start_time(pid),
            cgroups=cgroups.paths,
            namespaces=tuple(ns.type for ns in spec.namespaces),
            systemd_unit=systemd_unit,
        )
        save_state(directory, st)
        if opts.pid_file:
            write_atomic(opts.pid_file, str(pid).encode())
        return pid
    except BaseException:
        if pid > 0:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _reap(pid)
        _remove(directory, cgroups)
        raise
    finally:
        for fd in fds:
            os.close(fd)


def _remove(directory: str, cgroups: CgroupManager) -> None:
    try:
        cgroups.destroy()
    finally:
        for name in os.listdir(directory) if os.path.isdir(directory) else ():
            os.unlink(f"{directory}/{name}")
        if os.path.isdir(directory):
            os.rmdir(directory)


def status_of(directory: str, st: ContainerState) -> str:
    if process_status(st.pid, st.start_time) == "dead":
        return "stopped"
    if os.path.exists(f"{directory}/{FIFO_NAME}"):
        return "created"
    if manager_from_paths(st.cgroups).frozen():
        return "paused"
    return "running"


def state(root: str, container_id: str) -> dict[str, Any]:
    """runc's ``state`` JSON."""
    directory, st = load_state(root, container_id)
    status = status_of(directory, st)
    return {
        "ociVersion": st.oci_version,
        "id": st.id,
        "pid": st.pid if status != "stopped" else 0,
        "status": status,
        "bundle": st.bundle,
        "rootfs": st.rootfs,
        "created": st.created,
        "annotations": st.annotations,
        "owner": "",
    }


def list_containers(root: str) -> list[dict[str, Any]]:
    out = []
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else ():
        if not os.path.isdir(f"{root}/{name}"):
            continue
        try:
            out.append(state(root, name))
        except (DockyardError, OSError):
            continue
    return out


def _run_state_hooks(kind: str, st: ContainerState, status: str, warn: Callable[[str], None] | None) -> None:
    """poststart/poststop: their failures are logged, not fatal (runtime spec)."""
    try:
        hooks = load_spec(st.bundle).hooks.get(kind)
        run_hooks(kind, hooks, state_for_hooks(st.oci_version, st.id, status, st.pid, st.bundle, st.annotations))
    except DockyardError as e:
        if warn is not None:
            warn(e.message)


def start(root: str, container_id: str, warn: Callable[[str], None] | None = None) -> None:
    """Release a created container's init to exec the user's process."""
    directory, st = load_state(root, container_id)
    status = status_of(directory, st)
    if status != "created":
        raise Conflict(f"cannot start a container that is {status}")
    fifo = f"{directory}/{FIFO_NAME}"
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        # The init may die instead of writing; poll with its liveness as the bound.
        while True:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                data = os.read(fd, 1)
                if data:
                    break
            if process_status(st.pid, st.start_time) == "dead":
                raise Unavailable("container init exited before it was started")
    finally:
        os.close(fd)
    os.unlink(fifo)
    _run_state_hooks("poststart", st, "running", warn)


def kill(root: str, container_id: str, sig: int, all_processes: bool = False) -> None:
    directory, st = load_state(root, container_id)
    if status_of(directory, st) == "stopped":
        raise Conflict("container not running")
    if all_processes:
        cgroups = manager_from_paths(st.cgroups)
        for pid in cgroups.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return
    os.kill(st.pid, sig)


def _wait_dead(st: ContainerState) -> None:
    deadline = time.monotonic() + _WAIT
    while process_status(st.pid, st.start_time) == "alive":
        if time.monotonic() > deadline:
            raise Unavailable(f"container {st.id} did not die")
        time.sleep(0.002)


def delete(root: str, container_id: str, force: bool = False, warn: Callable[[str], None] | None = None) -> None:
    try:
        directory, st = load_state(root, container_id)
    except NotFound:
        if force:
            return
        raise
    cgroups = _cgroups_of(st)
    status = status_of(directory, st)
    if status in ("running", "paused") and not force:
        raise Conflict(f"cannot delete container {container_id} that is not stopped: {status}")
    if status != "stopped":
        if status == "paused":
            cgroups.thaw()
        for pid in [st.pid, *cgroups.pids()]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _wait_dead(st)
    # Leftover exec'd processes of a dead pid namespace die with it; wait for the cgroup to empty.
    deadline = time.monotonic() + _WAIT
    while cgroups.pids() and time.monotonic() < deadline:
        for pid in cgroups.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.002)
    _remove(directory, cgroups)
    _run_state_hooks("poststop", st, "stopped", warn)


def _cgroups_of(st: ContainerState) -> CgroupManager:
    if st.systemd_unit:
        from dockyard.runtime.linux.systemd import existing_systemd_cgroups

        return existing_systemd_cgroups(st.systemd_unit, st.cgroups)
    return manager_from_paths(st.cgroups)


def pause(root: str, container_id: str) -> None:
    directory, st = load_state(root, container_id)
    status = status_of(directory, st)
    if status not in ("running", "created"):
        raise Conflict(f"cannot pause a container that is {status}")
    manager_from_paths(st.cgroups).freeze()


def resume(root: str, container_id: str) -> None:
    directory, st = load_state(root, container_id)
    if status_of(directory, st) != "paused":
        raise Conflict("container is not paused")
    manager_from_paths(st.cgroups).thaw()


def update(root: str, container_id: str, resources: Resources) -> None:
    """Change a live container's cgroup limits."""
    directory, st = load_state(root, container_id)
    if status_of(directory, st) == "stopped":
        raise Conflict("container not running")
    _cgroups_of(st).apply(resources)


def ps(root: str, container_id: str) -> list[int]:
    _, st = load_state(root, container_id)
    return sorted(manager_from_paths(st.cgroups).pids())


def wait_exit_code(pid: int) -> int:
    """Wait for our child ``pid``; its exit code, or 128+signal like a shell."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return 255
        if os.WIFEXITED(status):
            return os.WEXITSTATUS(status)
        if os.WIFSIGNALED(status):
            return 128 + os.WTERMSIG(status)


def exec_process(
    root: str,
    container_id: str,
    proc: Process,
    console_socket: str = "",
    pid_file: str = "",
    preserve_fds: int = 0,
) -> int:
    """Start ``proc`` inside a running container; returns its pid once it has exec'd."""
    directory, st = load_state(root, container_id)
    status = status_of(directory, st)
    if status != "running":
        raise Conflict(f"cannot exec in a container that is {status}")
    if proc.terminal and not console_socket:
        raise InvalidArgument("terminal: true needs --console-socket")
    _check_apparmor(proc)
    own = set()
    for kind in ("user", "ipc", "uts", "network", "cgroup", "time", "mount"):
        if kind in st.namespaces:
            own.add(kind)
    fds: list[int] = []
    pid = 0
    try:
        pidns_fd = namespaces.open_ns(f"/proc/{st.pid}/ns/pid")
        fds.append(pidns_fd)
        join: list[tuple[str, int]] = []
        # The user namespace last: the network and IPC ones may belong to the host's (made by the daemon),
        # and only host root may join those; host root may join the container's own ones too.
        for kind in ("ipc", "uts", "network", "cgroup", "time", "mount", "user"):
            if kind in own:
                fd = namespaces.open_ns(f"/proc/{st.pid}/ns/{namespaces.PROC_NS_NAMES[kind]}")
                fds.append(fd)
                join.append((kind, fd))
        r, w = os.pipe2(os.O_CLOEXEC)
        joined_r, joined_w = os.pipe2(os.O_CLOEXEC)
        fds += [r, w, joined_r, joined_w]
        args = ExecArgs(
            process=proc,
            join_fds=tuple(join),
            console_socket=console_socket,
            preserve_fds=preserve_fds,
            sync_fd=w,
            joined_fd=joined_r,
            seccomp=load_spec(st.bundle).seccomp,
        )
        pid = _fork_into_pid_ns(pidns_fd) if "pid" in st.namespaces else os.fork()
        if pid == 0:
            exec_child(args)
        _close(fds, w)
        _close(fds, joined_r)
        try:
            # EOF without a message: the exec succeeded (the pipe was close-on-exec).
            _join_and_sync(manager_from_paths(st.cgroups), pid, fds, joined_w, _SyncReader(r))
        except BaseException:
            _reap(pid)
            pid = 0
            raise
        if pid_file:
            write_atomic(pid_file, str(pid).encode())
        return pid
    finally:
        for fd in fds:
            os.close(fd)
