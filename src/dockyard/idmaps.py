"""Id maps of a user namespace: which host uid/gid a container's uid/gid is stored as.

With ``userns-remap`` the layers, writable layers and volumes of containers are
owned by the shifted ids, so the container's root (host id ``uid_start``) owns
what the image says root owns. Files cross the boundary in both directions:
layers and ``cp`` archives are unpacked with :meth:`IdMaps.host_uid`, and commits,
exports and ``cp`` out are written with :meth:`IdMaps.container_uid`.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard import errors

__all__ = ["OVERFLOW_ID", "IdMaps"]

# What the kernel shows for an id with no mapping (/proc/sys/kernel/overflowuid).
OVERFLOW_ID = 65534


@dataclass(frozen=True)
class IdMaps:
    """One contiguous range each: container id 0..count-1 -> host id start..start+count-1."""

    uid_start: int
    uid_count: int
    gid_start: int
    gid_count: int

    @property
    def uid_mappings(self) -> tuple[tuple[int, int, int], ...]:
        return ((0, self.uid_start, self.uid_count),)

    @property
    def gid_mappings(self) -> tuple[tuple[int, int, int], ...]:
        return ((0, self.gid_start, self.gid_count),)

    @property
    def root(self) -> tuple[int, int]:
        """The host uid and gid of the container's root."""
        return self.uid_start, self.gid_start

    def host_uid(self, uid: int) -> int:
        return _to_host(uid, self.uid_start, self.uid_count, "uid")

    def host_gid(self, gid: int) -> int:
        return _to_host(gid, self.gid_start, self.gid_count, "gid")

    def container_uid(self, uid: int) -> int:
        """A host uid as the container sees it; ids outside the range show as the overflow id, like the kernel."""
        return uid - self.uid_start if self.uid_start <= uid < self.uid_start + self.uid_count else OVERFLOW_ID

    def container_gid(self, gid: int) -> int:
        return gid - self.gid_start if self.gid_start <= gid < self.gid_start + self.gid_count else OVERFLOW_ID


def _to_host(cid: int, start: int, count: int, what: str) -> int:
    if not 0 <= cid < count:
        # Docker refuses too: a file owned by an id the namespace cannot map would be unusable inside it.
        raise errors.InvalidArgument(
            f"container {what} {cid} cannot be mapped to a host {what}: the remapped range holds {count} ids"
        )
    return start + cid
