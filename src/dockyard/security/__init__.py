"""Security profiles: Docker's default seccomp profile and its profile format."""

from dockyard.security.seccomp_default import default_profile
from dockyard.security.seccomp_profile import Profile, go_arch, native_seccomp_arch, parse_profile, to_oci

__all__ = ["Profile", "default_profile", "go_arch", "native_seccomp_arch", "parse_profile", "to_oci"]
