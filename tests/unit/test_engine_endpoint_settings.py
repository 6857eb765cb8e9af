"""The empty endpoint entry of ``NetworkSettings.Networks`` (one function for ``none`` and for joined networks)."""

from __future__ import annotations

from dockyard.engine.hooks import endpoint_settings, none_network_settings

# the EndpointSettings fields Docker shows for an endpoint before it has an address (API v1.44)
_FIELDS = {
    "IPAMConfig", "Links", "Aliases", "MacAddress", "NetworkID", "EndpointID", "Gateway", "IPAddress",
    "IPPrefixLen", "IPv6Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "DriverOpts", "DNSNames",
}  # fmt: skip


def test_empty_endpoint_has_every_field_and_no_address() -> None:
    ep = endpoint_settings()
    assert set(ep) == _FIELDS
    assert (ep["NetworkID"], ep["EndpointID"], ep["IPAddress"], ep["IPPrefixLen"]) == ("", "", "", 0)
    assert ep["IPAMConfig"] is None and ep["Aliases"] is None and ep["Links"] is None


def test_endpoint_carries_what_the_request_asked_for() -> None:
    ipam = {"IPv4Address": "10.1.0.9"}
    ep = endpoint_settings("n1", ipam_config=ipam, links=["db:db"], aliases=["web"], mac_address="02:42:0a:01:00:09")
    assert ep["NetworkID"] == "n1" and ep["IPAMConfig"] == ipam and ep["IPAMConfig"] is not ipam
    assert (ep["Links"], ep["Aliases"], ep["MacAddress"]) == (["db:db"], ["web"], "02:42:0a:01:00:09")
    assert ep["Gateway"] == "" and ep["IPAddress"] == ""


def test_none_network_uses_the_same_entry_and_calls_do_not_share_state() -> None:
    a, b = none_network_settings(), none_network_settings()
    assert a["Networks"] == {"none": endpoint_settings()}
    a["Networks"]["none"]["IPAddress"] = "x"
    assert b["Networks"]["none"]["IPAddress"] == ""
