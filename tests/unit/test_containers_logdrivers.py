"""Log driver names and options as dockerd checks them at create, and where dockyard keeps logs."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.containers import logdrivers


@pytest.mark.parametrize("driver", ["", "json-file", "local", "none", "syslog"])
def test_implemented_drivers_are_accepted(driver: str) -> None:
    logdrivers.validate(driver, {})


@pytest.mark.parametrize("driver", ["journald", "fluentd", "awslogs", "splunk"])
def test_known_but_missing_drivers_are_refused_not_silently_dropped(driver: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=rf"^logger: the {driver} log driver is not available in dockyard"):
        logdrivers.validate(driver, {})


def test_an_unknown_driver_is_rejected_like_dockerd() -> None:
    with pytest.raises(errors.InvalidArgument, match=r"^logger: no log driver named 'nosuch' is registered$"):
        logdrivers.validate("nosuch", {})


def test_options_of_json_file_and_local() -> None:
    logdrivers.validate("json-file", {"max-size": "10m", "max-file": "3", "compress": "true", "labels": "a"})
    logdrivers.validate("", {"env": "A", "env-regex": "^A", "labels-regex": "^l", "tag": "x"})  # "": json-file
    logdrivers.validate("local", {"max-size": "10m", "max-file": "3", "compress": "false"})
    with pytest.raises(errors.InvalidArgument, match=r"^unknown log opt 'bogus' for json-file log driver$"):
        logdrivers.validate("json-file", {"max-size": "1m", "bogus": "1"})
    with pytest.raises(errors.InvalidArgument, match=r"^unknown log opt 'tag' for log driver local$"):
        logdrivers.validate("local", {"tag": "x"})
    logdrivers.validate("syslog", {"syslog-address": "udp://127.0.0.1:514", "syslog-format": "rfc5424", "tag": "t"})
    with pytest.raises(errors.InvalidArgument, match=r"^unknown log opt 'max-size' for log driver syslog$"):
        logdrivers.validate("syslog", {"max-size": "1m"})
    logdrivers.validate("none", {"anything": "goes"})


def test_logging_mode_and_buffer_size() -> None:
    logdrivers.validate("json-file", {"mode": "non-blocking", "max-buffer-size": "4m"})
    logdrivers.validate("local", {"mode": "blocking"})
    with pytest.raises(errors.InvalidArgument, match=r"^logger: logging mode not supported: sometimes$"):
        logdrivers.validate("json-file", {"mode": "sometimes"})
    with pytest.raises(errors.InvalidArgument, match=r"only supported with 'mode=non-blocking'"):
        logdrivers.validate("json-file", {"max-buffer-size": "4m"})


def test_log_files_and_what_inspect_shows() -> None:
    cid = "c" * 64
    assert logdrivers.log_path("/d", "json-file", cid) == f"/d/{cid}-json.log"
    assert logdrivers.log_path("/d", "", cid) == f"/d/{cid}-json.log"
    assert logdrivers.log_path("/d", "local", cid) == f"/d/{cid}-local.log"
    assert logdrivers.log_path("/d", "none", cid) == ""
    # a remote driver keeps a local cache `docker logs` reads (dockerd's dual logging), unless disabled
    assert logdrivers.log_path("/d", "syslog", cid) == f"/d/{cid}-local.log"
    assert logdrivers.log_path("/d", "syslog", cid, {"cache-disabled": "true"}) == ""
    assert logdrivers.inspect_log_path("json-file", "/d/x-json.log") == "/d/x-json.log"
    assert logdrivers.inspect_log_path("local", "/d/x-local.log") == ""  # private to the daemon, as in dockerd


def test_local_rotates_by_default() -> None:
    assert logdrivers.rotation_defaults("local") == {"max-size": "20m", "max-file": "5"}
    assert logdrivers.rotation_defaults("json-file") == {}
    assert logdrivers.rotation_defaults("syslog") == {"max-size": "20m", "max-file": "5"}
    assert logdrivers.rotation_defaults("syslog", {"cache-max-size": "1m"}) == {"max-size": "1m", "max-file": "5"}
    assert logdrivers.rotation_defaults("syslog", {"cache-disabled": "true"}) == {}


def test_syslog_options_are_checked_at_create() -> None:
    for opts in ({"syslog-address": "unixgram:///dev/log"}, {"syslog-address": "tcp://[::1]:601"}, {}):
        logdrivers.validate("syslog", opts)
    for opts, message in (
        ({"syslog-address": "http://x"}, "unsupported scheme"),
        ({"syslog-address": "tcp+tls://x:6514"}, "tcp\\+tls is not supported"),
        ({"syslog-address": "udp://host:port"}, "invalid port"),
        ({"syslog-facility": "kernel"}, "invalid syslog facility"),
        ({"syslog-format": "rfc9999"}, "Invalid syslog format"),
    ):
        with pytest.raises(errors.InvalidArgument, match=message):
            logdrivers.validate("syslog", opts)


def test_syslog_target_renders_the_tag() -> None:
    fields = {"ID": "0123456789ab", "Name": "web", "ImageName": "busybox:latest"}
    assert logdrivers.remote_target("syslog", {}, fields) == {
        "driver": "syslog",
        "address": "",
        "facility": "daemon",
        "format": "",
        "tag": "0123456789ab",  # dockerd's default tag: the short ID
    }
    target = logdrivers.remote_target("syslog", {"tag": "{{.Name}}/{{.ImageName}}", "syslog-format": "rfc5424"}, fields)
    assert target["tag"] == "web/busybox:latest" and target["format"] == "rfc5424"
    assert logdrivers.remote_target("json-file", {"tag": "x"}, fields) == {}


def test_gelf_needs_an_address_and_known_compression() -> None:
    logdrivers.validate("gelf", {"gelf-address": "udp://127.0.0.1:12201", "gelf-compression-type": "zlib"})
    for opts, message in (
        ({}, "gelf-address is a required parameter"),
        ({"gelf-address": "http://x:1"}, "endpoint needs to be TCP or UDP"),
        ({"gelf-address": "udp://x"}, "a port is required"),
        ({"gelf-address": "udp://x:1", "gelf-compression-type": "lz4"}, "Unknown gelf compression type"),
        ({"gelf-address": "udp://x:1", "gelf-compression-level": "12"}, "between -1 and 9"),
    ):
        with pytest.raises(errors.InvalidArgument, match=message):
            logdrivers.validate("gelf", opts)
    target = logdrivers.remote_target(
        "gelf", {"gelf-address": "udp://h:1"}, {"FullID": "f" * 64, "ID": "f" * 12, "Name": "web"}
    )
    assert target["driver"] == "gelf" and target["_container_id"] == "f" * 64 and target["_tag"] == "f" * 12
