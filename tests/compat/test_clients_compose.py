"""docker-compose (v1, Debian's Python one, on its own docker-py) drives dockyardd: a project with a
built service and a busybox service on a user network, a named volume, a published port, depends_on
with a healthcheck; the whole command set from `up` to `down -v --rmi local`, checked through the
daemon's API rather than through compose's own output where it matters."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dockyard.testing.daemon import DaemonProcess

pytestmark = [
    pytest.mark.compat,
    pytest.mark.root,
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose (v1) is not installed"),
]

WEB_DOCKERFILE = """\
FROM busybox
RUN mkdir -p /www && echo hello-from-web > /www/index.html
EXPOSE 8080
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""

# `client` fetches from `web` by service name in a loop and keeps the last answer in the named
# volume; it traps TERM so that stop/down don't wait out the grace period (a shell as PID 1 ignores
# signals it has no handler for). httpd as PID 1 doesn't stop on TERM either: a short grace period.
COMPOSE_FILE = """\
version: "3.8"
services:
  web:
    build: ./web
    ports:
      - "127.0.0.1::8080"
    networks: [backend]
    environment:
      GREETING: hello-env
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
      interval: 1s
      timeout: 5s
      retries: 60
  client:
    image: busybox
    command:
      - sh
      - -c
      - >-
        trap 'exit 0' TERM;
        while true; do
        wget -q -O - http://web:8080/ > /data/last.tmp && mv /data/last.tmp /data/last;
        echo tick; sleep 1;
        done
    depends_on:
      web:
        condition: service_healthy
    networks: [backend]
    volumes:
      - data:/data
networks:
  backend: {}
volumes:
  data: {}
"""


class Project:
    """One compose project in a temp dir, on the test daemon, under a unique project name."""

    def __init__(self, daemon: DaemonProcess, workdir: Path, files: dict[str, str]) -> None:
        self.daemon = daemon
        self.dir = workdir
        self.name = "dy" + uuid.uuid4().hex[:10]
        for rel, text in files.items():
            path = workdir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in self.daemon.env().items() if not k.startswith("COMPOSE_")}
        # compose's own builder (the system docker-py), not the docker CLI's
        env.update(COMPOSE_PROJECT_NAME=self.name, COMPOSE_DOCKER_CLI_BUILD="0", DOCKER_BUILDKIT="0")
        return env

    def compose(
        self, *args: str, check: bool = True, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            ["docker-compose", "--ansi", "never", *args],
            cwd=self.dir,
            env={**self.env(), **(env or {})},
            stdin=subprocess.DEVNULL,  # `exec -T` runs `docker exec -i`: stdin ends at once, as in CI
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and r.returncode != 0:
            raise AssertionError(
                f"docker-compose {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}\n"
                f"{self.daemon.read_log()[-2000:]}"
            )
        return r

    def api(self, method: str, path: str, body: Any = None) -> Any:
        status, data = self.daemon.request(method, path, body)
        assert status < 300, (method, path, status, data)
        return data

    def label_filter(self, *extra: str) -> str:
        labels = [f"com.docker.compose.project={self.name}", *extra]
        return urllib.parse.quote(json.dumps({"label": labels}))

    def containers(self, *labels: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.api("GET", f"/containers/json?all=1&filters={self.label_filter(*labels)}")
        return items

    def service(self, service: str) -> list[dict[str, Any]]:
        found = self.containers(f"com.docker.compose.service={service}", "com.docker.compose.oneoff=False")
        return sorted(found, key=lambda c: int(c["Labels"]["com.docker.compose.container-number"]))

    def inspect(self, container_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self.api("GET", f"/containers/{container_id}/json")
        return data

    def networks(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.api("GET", f"/networks?filters={self.label_filter()}")
        return items

    def volumes(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.api("GET", f"/volumes?filters={self.label_filter()}")["Volumes"] or []
        return items

    def images(self) -> list[str]:
        tags = [t for img in self.api("GET", "/images/json") for t in img.get("RepoTags") or []]
        return [t for t in tags if t.startswith(f"{self.name}_")]

    def cleanup(self) -> None:
        """Whatever a failed test left: compose's own down, then the API for the rest."""
        with contextlib.suppress(Exception):
            self.compose("down", "-v", "--rmi", "local", "--remove-orphans", "-t", "0", check=False)
        with contextlib.suppress(Exception):
            for c in self.containers():
                self.daemon.request("DELETE", f"/containers/{c['Id']}?force=1&v=1")
            for n in self.networks():
                self.daemon.request("DELETE", f"/networks/{n['Id']}")
            for v in self.volumes():
                self.daemon.request("DELETE", f"/volumes/{v['Name']}?force=1")
            for tag in self.images():
                self.daemon.request("DELETE", f"/images/{tag}?force=1")


@pytest.fixture
def project_factory(daemon: DaemonProcess, tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Project]]:
    made: list[Project] = []

    def make(files: dict[str, str]) -> Project:
        workdir = tmp_path / f"p{len(made)}"
        workdir.mkdir()
        p = Project(daemon, workdir, files)
        made.append(p)
        return p

    try:
        yield make
    finally:
        for p in made:
            p.cleanup()


def wait_until(check: Callable[[], Any], what: str, timeout: float = 60, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def read_file_in(p: Project, service: str, path: str) -> str:
    r = p.compose("exec", "-T", service, "cat", path, check=False)
    return r.stdout if r.returncode == 0 else ""


def test_compose_project_end_to_end(project_factory: Callable[[dict[str, str]], Project]) -> None:
    p = project_factory({"docker-compose.yml": COMPOSE_FILE, "web/Dockerfile": WEB_DOCKERFILE})

    # config: the resolved model, without touching the daemon
    config = yaml.safe_load(p.compose("config").stdout)
    assert set(config["services"]) == {"web", "client"}
    assert config["services"]["client"]["depends_on"] == {"web": {"condition": "service_healthy"}}
    assert p.compose("config", "--services").stdout.split() == ["web", "client"]
    assert p.compose("config", "--volumes").stdout.split() == ["data"]

    # up: builds web, creates network and volume, starts client only once web is healthy
    p.compose("up", "-d")
    [web] = p.service("web")
    [client] = p.service("client")
    web_info, client_info = p.inspect(web["Id"]), p.inspect(client["Id"])
    assert web_info["State"]["Health"]["Status"] == "healthy"
    assert client_info["State"]["Running"] is True
    assert web_info["Config"]["Image"] == f"{p.name}_web"
    assert f"{p.name}_web:latest" in p.images()

    # labels compose finds its objects by
    labels = web_info["Config"]["Labels"]
    assert labels["com.docker.compose.project"] == p.name
    assert labels["com.docker.compose.service"] == "web"
    assert labels["com.docker.compose.oneoff"] == "False"
    assert labels["com.docker.compose.container-number"] == "1"
    assert len(labels["com.docker.compose.config-hash"]) == 64
    assert labels["com.docker.compose.project.working_dir"] == str(p.dir)
    [net] = p.networks()
    assert net["Name"] == f"{p.name}_backend" and net["Labels"]["com.docker.compose.network"] == "backend"
    [vol] = p.volumes()
    assert vol["Name"] == f"{p.name}_data" and vol["Labels"]["com.docker.compose.volume"] == "data"
    assert set(client_info["NetworkSettings"]["Networks"]) == {f"{p.name}_backend"}
    assert "client" in client_info["NetworkSettings"]["Networks"][f"{p.name}_backend"]["Aliases"]

    # the two services talk by service name over the user network, both ways
    assert wait_until(lambda: read_file_in(p, "client", "/data/last"), "client's fetch from web") == "hello-from-web\n"
    assert p.compose("exec", "-T", "client", "wget", "-q", "-O", "-", "http://web:8080/").stdout == "hello-from-web\n"
    client_ip = client_info["NetworkSettings"]["Networks"][f"{p.name}_backend"]["IPAddress"]
    # repeated: the end of stdin used to race the exit and cost the output (shim reset the stream)
    lookups = [p.compose("exec", "-T", "web", "nslookup", "client").stdout for _ in range(8)]
    assert all(client_ip in out for out in lookups), lookups

    # the published port answers from the host on 127.0.0.1
    host, _, port = p.compose("port", "web", "8080").stdout.strip().rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as resp:
        assert resp.read() == b"hello-from-web\n"
    binding = web_info["NetworkSettings"]["Ports"]["8080/tcp"]
    assert binding == [{"HostIp": "127.0.0.1", "HostPort": port}]

    # ps
    ps = p.compose("ps").stdout
    assert f"{p.name}_web_1" in ps and f"{p.name}_client_1" in ps and "(healthy)" in ps
    assert sorted(p.compose("ps", "-q").stdout.split()) == sorted([web["Id"], client["Id"]])
    assert sorted(p.compose("ps", "--services", "--filter", "status=running").stdout.split()) == ["client", "web"]

    # logs
    wait_until(lambda: "tick" in p.compose("logs", "--no-color", "client").stdout, "client's log lines")
    tail = p.compose("logs", "--no-color", "--tail=1", "client").stdout.splitlines()
    assert [line.split("|", 1)[1] for line in tail if "|" in line] == [" tick"]

    # exec -T: environment, exit status
    env = p.compose("exec", "-T", "web", "env").stdout.splitlines()
    assert "GREETING=hello-env" in env
    assert p.compose("exec", "-T", "web", "sh", "-c", "exit 7", check=False).returncode == 7

    # run --rm: a one-off container on the project network with the volume; exit status; removed after
    p.compose("exec", "-T", "client", "sh", "-c", "echo keep-me > /data/keep")
    run = p.compose("run", "--rm", "client", "sh", "-c", "wget -q -O - http://web:8080/; cat /data/keep")
    assert run.stdout.splitlines()[-2:] == ["hello-from-web", "keep-me"]
    assert p.compose("run", "--rm", "client", "sh", "-c", "exit 5", check=False).returncode == 5
    assert p.containers("com.docker.compose.oneoff=True") == []

    # stop / start / restart
    p.compose("stop")
    for c in (web, client):
        state = p.inspect(c["Id"])["State"]
        assert state["Status"] == "exited" and state["Running"] is False
    p.compose("start")
    started = {c["Id"]: p.inspect(c["Id"])["State"] for c in (web, client)}
    assert all(s["Running"] for s in started.values())
    p.compose("restart", "-t", "1")
    for cid, before in started.items():
        after = p.inspect(cid)["State"]
        assert after["Running"] and after["StartedAt"] != before["StartedAt"]
    wait_until(lambda: p.inspect(web["Id"])["State"]["Health"]["Status"] == "healthy", "web healthy after restart")

    # scale: up --scale and the older scale command
    p.compose("up", "-d", "--scale", "client=3")
    clients = p.service("client")
    assert [c["Labels"]["com.docker.compose.container-number"] for c in clients] == ["1", "2", "3"]
    assert all(c["State"] == "running" for c in clients)
    assert clients[0]["Id"] == client["Id"]  # the existing one is kept, not recreated
    p.compose("scale", "client=1")
    assert [c["Id"] for c in p.service("client")] == [client["Id"]]

    # down without -v: containers and network go, the named volume and its data stay
    p.compose("down", "-t", "1")
    assert p.containers() == [] and p.networks() == []
    assert [v["Name"] for v in p.volumes()] == [f"{p.name}_data"]
    p.compose("up", "-d")
    assert read_file_in(p, "client", "/data/keep") == "keep-me\n"

    # down -v --rmi local: nothing of the project is left
    p.compose("down", "-v", "--rmi", "local", "-t", "1")
    assert p.containers() == []
    assert p.networks() == []
    assert p.volumes() == []
    assert p.images() == []
    assert p.api("GET", f"/volumes?filters={urllib.parse.quote(json.dumps({'name': [p.name]}))}")["Volumes"] in (
        None,
        [],
    )


ABORT_FILE = """\
version: "3.8"
services:
  server:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; echo server-up; while true; do sleep 1; done"]
  job:
    image: busybox
    command: ["sh", "-c", "echo job-done; exit 3"]
    depends_on: [server]
"""


def test_compose_up_attached_exit_code_from(project_factory: Callable[[dict[str, str]], Project]) -> None:
    """Attached `up` streams every container's output (attach), follows the project's events and
    waits for the job; its exit status becomes compose's, and the rest of the project is stopped."""
    p = project_factory({"docker-compose.yml": ABORT_FILE})
    r = p.compose("up", "--abort-on-container-exit", "--exit-code-from", "job", check=False)
    assert r.returncode == 3, r.stdout + r.stderr
    assert re.search(r"^job_1 +\| job-done$", r.stdout, re.M), r.stdout
    [server] = p.service("server")
    [job] = p.service("job")
    assert p.inspect(job["Id"])["State"]["ExitCode"] == 3
    server_state = p.inspect(server["Id"])["State"]
    assert server_state["Status"] == "exited" and server_state["ExitCode"] == 0  # stopped via its TERM trap
    p.compose("down", "-t", "1")
    assert p.containers() == [] and p.networks() == []


RECREATE_FILE = """\
version: "3.8"
services:
  app:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; echo VERSION=$$VERSION; while true; do sleep 1; done"]
    environment:
      VERSION: "${APP_VERSION:-one}"
    volumes: ["/cache"]
"""


def test_compose_recreate_keeps_anonymous_volumes(project_factory: Callable[[dict[str, str]], Project]) -> None:
    """A changed service is recreated (rename the old container, create the new one with the old
    one's anonymous volume by name, remove the old one); --renew-anon-volumes starts afresh."""
    p = project_factory({"docker-compose.yml": RECREATE_FILE})
    p.compose("up", "-d")
    [first] = p.service("app")
    [mount] = p.inspect(first["Id"])["Mounts"]
    assert mount["Type"] == "volume" and mount["Destination"] == "/cache"
    p.compose("exec", "-T", "app", "sh", "-c", "echo cached > /cache/f")

    p.compose("up", "-d", env={"APP_VERSION": "two"})
    [second] = p.service("app")
    assert second["Id"] != first["Id"] and second["Names"] == [f"/{p.name}_app_1"]
    assert "VERSION=two" in p.inspect(second["Id"])["Config"]["Env"]
    assert [m["Name"] for m in p.inspect(second["Id"])["Mounts"]] == [mount["Name"]]
    assert read_file_in(p, "app", "/cache/f") == "cached\n"
    assert p.daemon.request("GET", f"/containers/{first['Id']}/json")[0] == 404

    p.compose("up", "-d", "--force-recreate", "--renew-anon-volumes")
    [third] = p.service("app")
    [fresh] = p.inspect(third["Id"])["Mounts"]
    assert fresh["Name"] != mount["Name"]
    assert p.compose("exec", "-T", "app", "ls", "/cache").stdout == ""
    p.compose("down", "-v", "-t", "1")
    assert p.containers() == []
    # the volume the renewed container no longer uses is compose's to leave behind, as with dockerd
    p.daemon.request("DELETE", f"/volumes/{mount['Name']}")


SIDECAR_FILE = """\
version: "3.8"
services:
  web:
    image: busybox
    hostname: webhost
    domainname: example.org
    command: ["sh", "-c", "mkdir /www && echo from-web > /www/i && exec httpd -f -p 8080 -h /www"]
    stop_signal: SIGKILL
  sidecar:
    image: busybox
    network_mode: "service:web"
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
"""


def test_compose_sidecar_shares_network_namespace(project_factory: Callable[[dict[str, str]], Project]) -> None:
    """`network_mode: service:web` (container:<id>): the sidecar reaches web on 127.0.0.1 and, as
    with dockerd, carries web's host and domain name (hostname, /etc/hostname, $HOSTNAME, inspect)."""
    p = project_factory({"docker-compose.yml": SIDECAR_FILE})
    p.compose("up", "-d")
    [web] = p.service("web")
    [sidecar] = p.service("sidecar")
    info = p.inspect(sidecar["Id"])
    assert info["HostConfig"]["NetworkMode"] == f"container:{web['Id']}"
    assert (info["Config"]["Hostname"], info["Config"]["Domainname"]) == ("webhost", "example.org")
    fetched = wait_until(
        lambda: (
            p.compose("exec", "-T", "sidecar", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/i", check=False).stdout
        ),
        "web's httpd from the sidecar",
    )
    assert fetched == "from-web\n"
    names = p.compose("exec", "-T", "sidecar", "sh", "-c", 'hostname; cat /etc/hostname; echo "$HOSTNAME"').stdout
    assert names.split() == ["webhost", "webhost", "webhost"]
    web_hosts = p.compose("exec", "-T", "web", "cat", "/etc/hosts").stdout
    assert p.compose("exec", "-T", "sidecar", "cat", "/etc/hosts").stdout == web_hosts

    # what a container in another's network namespace cannot have fails at create, as with dockerd
    (p.dir / "docker-compose.yml").write_text(SIDECAR_FILE + '    ports: ["127.0.0.1::9000"]\n')
    r = p.compose("up", "-d", "sidecar", check=False)
    assert r.returncode != 0
    assert "conflicting options: port publishing and the container type network mode" in r.stderr
    p.compose("down", "-t", "1")
    assert p.containers() == [] and p.networks() == []


PROCESS_FILE = """\
version: "3.8"
services:
  worker:
    image: busybox
    command: ["sh", "-c", "trap 'echo got-usr1' USR1; trap 'exit 0' TERM; while true; do sleep 1; done"]
"""


def test_compose_top_pause_kill_rm(project_factory: Callable[[dict[str, str]], Project]) -> None:
    p = project_factory({"docker-compose.yml": PROCESS_FILE})
    p.compose("up", "-d")
    [worker] = p.service("worker")

    top = p.compose("top").stdout
    assert f"{p.name}_worker_1" in top and "trap 'echo got-usr1' USR1" in top
    images = p.compose("images").stdout
    assert f"{p.name}_worker_1" in images and "busybox" in images

    p.compose("pause")
    assert p.inspect(worker["Id"])["State"]["Paused"] is True
    assert "Paused" in p.compose("ps").stdout
    p.compose("unpause")
    assert p.inspect(worker["Id"])["State"]["Paused"] is False

    p.compose("kill", "-s", "SIGUSR1")  # delivered to the shell, which keeps running
    wait_until(lambda: "got-usr1" in p.compose("logs", "--no-color").stdout, "the trap's output")
    assert p.inspect(worker["Id"])["State"]["Running"] is True
    p.compose("kill")
    state = wait_until(
        lambda: (s := p.inspect(worker["Id"])["State"])["Status"] == "exited" and s, "the container's death"
    )
    assert state["ExitCode"] == 137

    p.compose("rm", "-f", "-v")
    assert p.service("worker") == []
    p.compose("up", "-d")
    [again] = p.service("worker")
    assert again["Id"] != worker["Id"] and again["State"] == "running"
    p.compose("down", "-t", "1")
    assert p.containers() == [] and p.networks() == []


LOGGING_FILE = """\
version: "3.8"
services:
  local:
    image: busybox
    command: ["sh", "-c", "echo from-local; exec sleep 300"]
    stop_signal: SIGKILL
    logging:
      driver: local
      options: {max-size: "1m"}
  silent:
    image: busybox
    command: ["sh", "-c", "echo from-none; exec sleep 300"]
    stop_signal: SIGKILL
    logging: {driver: none}
"""


def test_compose_logging_drivers(project_factory: Callable[[dict[str, str]], Project]) -> None:
    """`logging: driver: local` is read back like json-file (its file stays private, as in dockerd);
    `none` keeps nothing; an unknown driver or option fails at create with dockerd's message."""
    p = project_factory({"docker-compose.yml": LOGGING_FILE})
    p.compose("up", "-d")
    wait_until(lambda: "from-local" in p.compose("logs", "--no-color", "local").stdout, "the local driver's log")
    [local] = p.service("local")
    info = p.inspect(local["Id"])
    assert info["HostConfig"]["LogConfig"] == {"Type": "local", "Config": {"max-size": "1m"}}
    assert info["LogPath"] == ""
    silent = p.compose("logs", "--no-color", "silent")  # compose knows `none` has nothing to show
    assert "from-none" not in silent.stdout + silent.stderr
    [quiet] = p.service("silent")
    status, body = p.daemon.request("GET", f"/containers/{quiet['Id']}/logs?stdout=1")
    assert status == 501 and "configured logging driver does not support reading" in str(body)

    broken = LOGGING_FILE.replace("driver: local", "driver: nosuch")
    (p.dir / "docker-compose.yml").write_text(broken)
    r = p.compose("up", "-d", "--force-recreate", "local", check=False)
    assert r.returncode != 0 and "logger: no log driver named 'nosuch' is registered" in r.stderr
    bad_opt = LOGGING_FILE.replace('{max-size: "1m"}', '{max-size: "1m", tag: "x"}')
    (p.dir / "docker-compose.yml").write_text(bad_opt)
    r = p.compose("up", "-d", "--force-recreate", "local", check=False)
    assert r.returncode != 0 and "unknown log opt 'tag' for log driver local" in r.stderr
    p.compose("down", "-t", "0")
    assert p.containers() == [] and p.networks() == []
