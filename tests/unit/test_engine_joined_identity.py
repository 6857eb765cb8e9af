"""A container in another's network namespace takes that container's host and domain name."""

from __future__ import annotations

from dockyard.engine.containerspec import joined_container, with_identity_of


def test_joined_container_names_the_donor_only_in_container_mode() -> None:
    assert joined_container({"NetworkMode": "container:web"}) == "web"
    assert joined_container({"NetworkMode": "container:0123456789ab"}) == "0123456789ab"
    for mode in ("bridge", "host", "none", "default", "mynet", ""):
        assert joined_container({"NetworkMode": mode}) == ""
    assert joined_container({}) == ""


def test_with_identity_of_takes_host_and_domain_name_and_keeps_the_rest() -> None:
    own = {"Hostname": "0123456789ab", "Domainname": "", "Env": ["A=1"], "Image": "busybox"}
    donor = {"Hostname": "web", "Domainname": "example.org", "Env": ["B=2"], "Image": "other"}
    assert with_identity_of(own, donor) == {
        "Hostname": "web",
        "Domainname": "example.org",
        "Env": ["A=1"],
        "Image": "busybox",
    }
    assert own["Hostname"] == "0123456789ab"  # not changed in place
    assert with_identity_of(own, {"Hostname": "web"})["Domainname"] == ""
