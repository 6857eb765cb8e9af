"""AppArmor on the daemon's side: is the host confining, which profile a container gets, loading it.

Docker's rules: only on a host with AppArmor enabled does a container get a
profile at all (elsewhere a requested one is ignored and inspect shows "");
``--security-opt apparmor=<name>`` names it, else ``--privileged`` means
``unconfined``, else ``docker-default``, which the daemon generates and loads
with ``apparmor_parser`` whenever the kernel does not hold it (other services
may unload profiles at any time). A named profile must be loaded already.

Every host path goes through ``root`` (default "/"), so tests use fake trees.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from dockyard import errors
from dockyard.security.apparmor_profile import DefaultProfileParams, render_default_profile

__all__ = [
    "DEFAULT_PROFILE",
    "UNCONFINED",
    "AppArmor",
    "daemon_profile",
    "default_profile_params",
    "host_enabled",
    "load_profile",
    "loaded_profiles",
    "profile_for",
]

DEFAULT_PROFILE = "docker-default"
UNCONFINED = "unconfined"

_ENABLED = "sys/module/apparmor/parameters/enabled"
_PROFILES = "sys/kernel/security/apparmor/profiles"
_PROFILE_DIR = "etc/apparmor.d"
_PARSER_TIMEOUT = 120.0  # compiling a profile takes well under a second; a hung parser must not hang start


def _path(root: str, rel: str) -> str:
    return os.path.join(root, rel)


def host_enabled(root: str = "/") -> bool:
    """The kernel has AppArmor on (``Y`` in its module parameter) and securityfs shows its profile list."""
    try:
        with open(_path(root, _ENABLED), "rb") as f:
            if f.read(1) != b"Y":
                return False
        with open(_path(root, _PROFILES), "rb"):
            return True
    except OSError:
        return False


def loaded_profiles(root: str = "/") -> frozenset[str]:
    """Names of the profiles the kernel holds (lines are ``<name> (<mode>)``)."""
    with open(_path(root, _PROFILES), encoding="utf-8", errors="replace") as f:
        return frozenset(line.rsplit(" (", 1)[0] for line in f.read().splitlines() if line.strip())


def profile_for(named: str, privileged: bool, enabled: bool) -> str:
    """The profile a container runs under: "" without host AppArmor, else ``named``
    (``--security-opt apparmor=<name>``), else unconfined when privileged, else the default."""
    if not enabled:
        return ""
    if named:
        return named
    return UNCONFINED if privileged else DEFAULT_PROFILE


def daemon_profile(proc_root: str = "/proc") -> str:
    """The daemon's own profile (it reads ``name (mode)``, or ``unconfined``); the per-LSM file first,
    since with stacked LSMs the old ``attr/current`` may belong to another one."""
    current = ""
    for rel in ("self/attr/apparmor/current", "self/attr/current"):
        try:
            with open(os.path.join(proc_root, rel), encoding="utf-8", errors="replace") as f:
                current = f.read().strip("\0\n ")
            break
        except OSError:
            continue
    return current.split(" ", 1)[0] or UNCONFINED


def default_profile_params(name: str, root: str = "/", proc_root: str = "/proc") -> DefaultProfileParams:
    """What :func:`render_default_profile` needs to know about this host."""
    return DefaultProfileParams(
        name=name,
        daemon_profile=daemon_profile(proc_root),
        tunables_global=os.path.exists(_path(root, f"{_PROFILE_DIR}/tunables/global")),
        abstractions_base=os.path.exists(_path(root, f"{_PROFILE_DIR}/abstractions/base")),
    )


def load_profile(path: str, parser: str = "apparmor_parser") -> None:
    """``apparmor_parser -Kr <path>``: compile without the cache and load, replacing a loaded one."""
    exe = shutil.which(parser)
    if exe is None:
        raise errors.Internal(f"{parser} not found in PATH (install the apparmor package)")
    try:
        done = subprocess.run(
            [exe, "-Kr", path], stdin=subprocess.DEVNULL, capture_output=True, timeout=_PARSER_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise errors.Internal(f"{parser} did not finish within {_PARSER_TIMEOUT:.0f}s") from None
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace").strip()
        raise errors.Internal(f"parser error({output!r}): {parser} exited with status {done.returncode}")


@dataclass(frozen=True)
class AppArmor:
    """The host's AppArmor as the daemon uses it at container start.

    ``enabled`` is probed once (see :func:`host_enabled`) by whoever builds this;
    ``root``, ``proc_root`` and ``parser`` are seams for tests.
    """

    enabled: bool
    root: str = "/"
    proc_root: str = "/proc"
    parser: str = "apparmor_parser"

    @classmethod
    def probe(cls, root: str = "/") -> AppArmor:
        return cls(enabled=host_enabled(root), root=root)

    def choose(self, named: str, privileged: bool) -> str:
        """The container's profile name, without touching the kernel (what inspect shows)."""
        return profile_for(named, privileged, self.enabled)

    def for_start(self, named: str, privileged: bool) -> str:
        """The profile for ``process.apparmorProfile``, made sure to be loaded ("" when AppArmor is off)."""
        name = self.choose(named, privileged)
        if name not in ("", UNCONFINED):
            self.ensure_loaded(name)
        return name

    def _is_loaded(self, name: str) -> bool:
        try:
            return name in loaded_profiles(self.root)
        except OSError as e:
            raise errors.Internal(f"could not check if the {name} AppArmor profile is loaded: {e.strerror}") from None

    def ensure_loaded(self, name: str) -> None:
        """Load ``docker-default`` when missing; any other profile must be loaded by the administrator."""
        if self._is_loaded(name):
            return
        if name != DEFAULT_PROFILE:
            raise errors.InvalidArgument(
                f"AppArmor enabled on system but the {name} profile could not be loaded: "
                f"no profile named {name!r} is loaded (load it with apparmor_parser first)"
            )
        try:
            self.install_default()
        except errors.Internal as e:
            raise errors.Internal(
                f"AppArmor enabled on system but the {DEFAULT_PROFILE} profile could not be loaded: {e.message}"
            ) from None

    def install_default(self) -> None:
        """Render ``docker-default`` into a temporary file and load it."""
        text = render_default_profile(default_profile_params(DEFAULT_PROFILE, self.root, self.proc_root))
        try:
            fd, path = tempfile.mkstemp(prefix=DEFAULT_PROFILE + "-")
        except OSError as e:
            raise errors.Internal(f"writing the profile: {e}") from None
        try:
            try:
                with os.fdopen(fd, "w") as f:
                    f.write(text)
            except OSError as e:
                raise errors.Internal(f"writing the profile: {e}") from None
            load_profile(path, self.parser)
        finally:
            os.unlink(path)
