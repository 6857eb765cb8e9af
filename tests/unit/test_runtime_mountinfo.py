"""mountinfo parsing and the cgroup layout decision."""

from __future__ import annotations

from dockyard.runtime.linux.cgroups import cgroup_relpath
from dockyard.runtime.mountinfo import cgroup_layout, mount_point_of, parse_mountinfo

HYBRID = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
25 22 0:21 / /sys rw,nosuid shared:2 - sysfs sysfs rw
26 25 0:22 / /sys/fs/cgroup rw shared:3 - tmpfs tmpfs rw,mode=755
27 26 0:23 / /sys/fs/cgroup/unified rw shared:4 - cgroup2 cgroup2 rw
28 26 0:24 / /sys/fs/cgroup/cpu,cpuacct rw shared:5 - cgroup cgroup rw,cpu,cpuacct
29 26 0:25 / /sys/fs/cgroup/memory rw shared:6 - cgroup cgroup rw,memory
30 26 0:26 / /sys/fs/cgroup/systemd rw shared:7 - cgroup cgroup rw,xattr,name=systemd
31 22 0:40 / /mnt/with\\040space rw - tmpfs tmpfs rw
"""

PURE_V2 = """\
22 1 254:0 / / rw - ext4 /dev/vda rw
26 22 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
"""


def test_parse_mountinfo_fields() -> None:
    entries = parse_mountinfo(HYBRID)
    assert len(entries) == 8
    root = entries[0]
    assert (root.mount_point, root.fstype, root.source, root.optional) == ("/", "ext4", "/dev/vda", ("shared:1",))
    assert entries[-1].mount_point == "/mnt/with space"


def test_hybrid_host_uses_v1_hierarchies() -> None:
    layout = cgroup_layout(parse_mountinfo(HYBRID))
    assert layout.unified == ""
    assert dict(layout.v1) == {
        "cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
        "memory": "/sys/fs/cgroup/memory",
        "name=systemd": "/sys/fs/cgroup/systemd",
    }


def test_pure_v2_host() -> None:
    layout = cgroup_layout(parse_mountinfo(PURE_V2))
    assert (layout.unified, layout.v1) == ("/sys/fs/cgroup", ())


def test_mount_point_of() -> None:
    entries = parse_mountinfo(HYBRID)
    found = mount_point_of(entries, "/sys/fs/cgroup/memory/x")
    assert found is not None
    assert found.mount_point == "/sys/fs/cgroup/memory"
    found = mount_point_of(entries, "/home")
    assert found is not None
    assert found.mount_point == "/"


def test_cgroup_relpath() -> None:
    assert cgroup_relpath("", "abc") == "/dockyard/abc"
    assert cgroup_relpath("/docker/abc", "abc") == "/docker/abc"
    assert cgroup_relpath("relative/x/", "abc") == "/relative/x"
    assert cgroup_relpath("system.slice:docker:abc", "abc") == "/system.slice/docker-abc.scope"
