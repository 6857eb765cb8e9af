"""Networking: IPAM, bridges and veths, nftables rules, the embedded DNS, hosts/resolv.conf."""

from dockyard.network.ipam import AddressPool, NetworkNotFound, NetworkRecord, NetworkStore
from dockyard.network.plumbing import LinuxPlumber, Plumber

__all__ = ["AddressPool", "LinuxPlumber", "NetworkNotFound", "NetworkRecord", "NetworkStore", "Plumber"]
