"""cp, pull, push, login/logout and build, in-process against the fake Engine API."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import stat
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard.cli.main import main
from dockyard.client.fake_engine import FakeContainer, FakeEngine

Dy = Callable[..., tuple[int, str, str]]


class _BinaryStdin(io.TextIOWrapper):
    pass


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    d = tempfile.mkdtemp(prefix="dyt", dir="/tmp")
    try:
        with FakeEngine(os.path.join(d, "d.sock")) as eng:
            yield eng
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cfg = tmp_path / "dockercfg"
    monkeypatch.setenv("DOCKER_CONFIG", str(cfg))
    return cfg


@pytest.fixture
def dy(
    engine: FakeEngine, docker_config: Path, monkeypatch: pytest.MonkeyPatch, capfdbinary: pytest.CaptureFixture[bytes]
) -> Dy:
    monkeypatch.setenv("DOCKYARD_HOST", engine.host)

    def run(*args: str, stdin: str | bytes = "", raw: bool = False) -> tuple[int, str | bytes, str]:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        rc = main(list(args))
        out, err = capfdbinary.readouterr()
        return rc, out if raw else out.decode(), err.decode()

    return run


def _running(engine: FakeEngine, dy: Dy, name: str = "box") -> FakeContainer:
    assert dy("run", "-d", "--name", name, "busybox", "sleep")[0] == 0
    c = engine.find_container(name)
    assert c is not None
    deadline = time.monotonic() + 10
    while c.status != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    return c


# -- cp -------------------------------------------------------------------------------------------


def test_cp_out_file_and_dir_rules(dy: Dy, engine: FakeEngine, tmp_path: Path) -> None:
    c = _running(engine, dy)
    root = Path(engine.resources.rootfs(c.id))
    (root / "d" / "sub").mkdir(parents=True)
    (root / "d" / "sub" / "f.txt").write_text("inner")
    (root / "d" / "link").symlink_to("/etc/hostname")
    # a file to a missing name: a file of that name
    assert dy("cp", "box:/etc/hostname", str(tmp_path / "h"))[0] == 0
    assert (tmp_path / "h").read_text() == c.id[:12] + "\n"
    # a file into an existing directory: keeps its name
    (tmp_path / "dir").mkdir()
    assert dy("cp", "box:/etc/hostname", str(tmp_path / "dir"))[0] == 0
    assert (tmp_path / "dir" / "hostname").is_file()
    # a directory to a missing path: becomes that path; into an existing one: nested; /. : contents
    assert dy("cp", "box:/d", str(tmp_path / "copy"))[0] == 0
    assert (tmp_path / "copy" / "sub" / "f.txt").read_text() == "inner"
    assert os.readlink(tmp_path / "copy" / "link") == "/etc/hostname"  # a symlink stays a symlink
    assert dy("cp", "box:/d", str(tmp_path / "dir"))[0] == 0
    assert (tmp_path / "dir" / "d" / "sub" / "f.txt").is_file()
    (tmp_path / "flat").mkdir()
    assert dy("cp", "box:/d/.", str(tmp_path / "flat"))[0] == 0
    assert sorted(os.listdir(tmp_path / "flat")) == ["link", "sub"]
    rc, _, err = dy("cp", "box:/d", str(tmp_path / "h"))
    assert rc == 1 and "cannot copy a directory to a file" in err
    rc, _, err = dy("cp", "box:/nope", str(tmp_path / "x"))
    assert rc == 1 and "Could not find the file /nope" in err
    # `-` : the tar itself on stdout
    rc, out, _ = dy("cp", "box:/d", "-", raw=True)
    assert isinstance(out, bytes)
    with tarfile.open(fileobj=io.BytesIO(out)) as tf:
        assert "d/sub/f.txt" in tf.getnames()


def test_cp_out_refuses_escaping_members(tmp_path: Path) -> None:
    from dockyard.cli.cp import CopyPlan, extract

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        evil = tarfile.TarInfo("top/../../escape.txt")
        evil.size = 1
        tf.addfile(evil, io.BytesIO(b"x"))
    buf.seek(0)
    with pytest.raises(tarfile.FilterError):
        extract(buf, CopyPlan(str(tmp_path / "dest"), None))
    assert not (tmp_path / "escape.txt").exists()


def test_cp_in(dy: Dy, engine: FakeEngine, tmp_path: Path) -> None:
    c = _running(engine, dy)
    root = Path(engine.resources.rootfs(c.id))
    (tmp_path / "f.txt").write_text("hello")
    (tmp_path / "tree" / "a").mkdir(parents=True)
    (tmp_path / "tree" / "a" / "b.txt").write_text("b")
    os.chmod(tmp_path / "tree" / "a" / "b.txt", 0o640)
    assert dy("cp", str(tmp_path / "f.txt"), "box:/etc")[0] == 0
    assert (root / "etc" / "f.txt").read_text() == "hello"
    assert dy("cp", str(tmp_path / "f.txt"), "box:/etc/renamed")[0] == 0
    assert (root / "etc" / "renamed").read_text() == "hello"
    assert dy("cp", str(tmp_path / "tree"), "box:/newdir")[0] == 0
    assert (root / "newdir" / "a" / "b.txt").read_text() == "b"
    assert stat.S_IMODE((root / "newdir" / "a" / "b.txt").stat().st_mode) == 0o640
    assert dy("cp", str(tmp_path / "tree"), "box:/etc")[0] == 0
    assert (root / "etc" / "tree" / "a" / "b.txt").is_file()
    assert dy("cp", str(tmp_path / "tree") + "/.", "box:/etc")[0] == 0
    assert (root / "etc" / "a" / "b.txt").is_file()
    rc, _, err = dy("cp", str(tmp_path / "tree"), "box:/etc/hostname")
    assert rc == 1 and "cannot copy a directory to a file" in err
    rc, _, err = dy("cp", str(tmp_path / "f.txt"), "box:/missing/")
    assert rc == 1 and "does not exist" in err
    # `-` : a tar on stdin extracted at the destination directory
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("from-stdin.txt")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"std"))
    assert dy("cp", "-", "box:/", stdin=buf.getvalue())[0] == 0
    assert (root / "from-stdin.txt").read_text() == "std"
    rc, _, err = dy("cp", str(tmp_path / "f.txt"), str(tmp_path / "g.txt"))
    assert rc == 1 and "container:path" in err


# -- pull / push / login / logout ---------------------------------------------------------------


def _auth_header(user: str, password: str, server: str) -> dict[str, str]:
    return {"username": user, "password": password, "serveraddress": server}


def test_pull_prints_progress_and_reference(dy: Dy, engine: FakeEngine) -> None:
    engine.resources.remote_images["localhost:5000/app:1"] = ["aaa111", "bbb222"]
    rc, out, _ = dy("pull", "localhost:5000/app:1")
    assert rc == 0
    lines = out.splitlines()
    assert "aaa111: Pull complete" in lines and "bbb222: Pulling fs layer" in lines
    assert lines[-1] == "localhost:5000/app:1" and "Status: Downloaded newer image for localhost:5000/app:1" in lines
    assert engine.find_image("localhost:5000/app:1") is not None
    assert engine.resources.pulled_auth[-1] == {}  # anonymous: no stored login
    rc, out, err = dy("pull", "localhost:5000/missing")
    assert rc == 1 and out.startswith("Using default tag: latest") and "pull access denied" in err
    engine.resources.remote_images["busybox:1.36"] = ["ccc"]
    rc, out, _ = dy("pull", "-q", "busybox:1.36")
    assert (rc, out) == (0, "docker.io/library/busybox:1.36\n")


def test_login_stores_docker_format_then_pull_and_push_send_it(dy: Dy, engine: FakeEngine, docker_config: Path) -> None:
    rc, _, err = dy("login", "-u", "user", "--password-stdin", "localhost:5000", stdin="wrong\n")
    assert rc == 1 and "incorrect username or password" in err and not (docker_config / "config.json").exists()
    rc, out, err = dy("login", "-u", "user", "--password-stdin", "localhost:5000", stdin="secret\n")
    assert (rc, out) == (0, "Login Succeeded\n") and "stored unencrypted" in err
    cfg = json.loads((docker_config / "config.json").read_text())
    assert cfg["auths"]["localhost:5000"]["auth"] == base64.b64encode(b"user:secret").decode()
    assert stat.S_IMODE((docker_config / "config.json").stat().st_mode) == 0o600
    engine.resources.remote_images["localhost:5000/app:latest"] = ["l1"]
    assert dy("pull", "localhost:5000/app")[0] == 0
    assert engine.resources.pulled_auth[-1] == _auth_header("user", "secret", "localhost:5000")
    rc, out, _ = dy("push", "localhost:5000/app")
    assert rc == 0 and "latest: digest: sha256:" in out
    assert engine.resources.pushed[-1] == (
        "localhost:5000/app:latest",
        _auth_header("user", "secret", "localhost:5000"),
    )
    assert dy("logout", "localhost:5000") == (0, "Removing login credentials for localhost:5000\n", "")
    assert json.loads((docker_config / "config.json").read_text())["auths"] == {}
    assert dy("logout", "localhost:5000") == (0, "Not logged in to localhost:5000\n", "")
    rc, _, err = dy("push", "localhost:5000/app")
    assert rc == 1 and "authentication required" in err


def test_login_keeps_unknown_keys_and_flags_checked(dy: Dy, docker_config: Path) -> None:
    docker_config.mkdir()
    (docker_config / "config.json").write_text(json.dumps({"psFormat": "x", "auths": {"other.io": {"auth": "eDp5"}}}))
    rc, _, err = dy("login", "--password-stdin", "localhost:5000", stdin="secret")
    assert rc == 1 and "Must provide --username with --password-stdin" in err
    rc, _, err = dy("login", "-u", "user", "-p", "secret", "localhost:5000")
    assert rc == 0 and "Using --password via the CLI is insecure" in err
    cfg = json.loads((docker_config / "config.json").read_text())
    assert cfg["psFormat"] == "x" and set(cfg["auths"]) == {"other.io", "localhost:5000"}


def test_login_with_credential_helper(dy: Dy, engine: FakeEngine, docker_config: Path, tmp_path: Path) -> None:
    store = tmp_path / "helper-store.json"
    helper_dir = tmp_path / "bin"
    helper_dir.mkdir()
    helper = helper_dir / "docker-credential-fake"
    helper.write_text(
        f"""#!{sys.executable}
import json, sys
path = {str(store)!r}
try:
    db = json.load(open(path))
except FileNotFoundError:
    db = {{}}
action, data = sys.argv[1], sys.stdin.read()
if action == "store":
    entry = json.loads(data); db[entry["ServerURL"]] = entry; json.dump(db, open(path, "w"))
elif action == "get":
    if data.strip() not in db:
        print("credentials not found in native keychain"); sys.exit(1)
    print(json.dumps(db[data.strip()]))
elif action == "erase":
    db.pop(data.strip(), None); json.dump(db, open(path, "w"))
"""
    )
    helper.chmod(0o755)
    os.environ["PATH"] = f"{helper_dir}:{os.environ['PATH']}"
    try:
        docker_config.mkdir()
        (docker_config / "config.json").write_text(json.dumps({"credsStore": "fake"}))
        rc, out, err = dy("login", "-u", "user", "--password-stdin", "localhost:5000", stdin="secret\n")
        assert (rc, out) == (0, "Login Succeeded\n") and "unencrypted" not in err
        cfg = json.loads((docker_config / "config.json").read_text())
        assert cfg["auths"] == {"localhost:5000": {}}  # the secret lives in the helper only
        assert json.loads(store.read_text())["localhost:5000"]["Secret"] == "secret"
        engine.resources.remote_images["localhost:5000/app:latest"] = ["l1"]
        assert dy("pull", "localhost:5000/app")[0] == 0
        assert engine.resources.pulled_auth[-1] == _auth_header("user", "secret", "localhost:5000")
        assert dy("logout", "localhost:5000")[0] == 0
        assert json.loads(store.read_text()) == {}
    finally:
        os.environ["PATH"] = os.environ["PATH"].split(":", 1)[1]


# -- build ----------------------------------------------------------------------------------------


def test_build_directory_honours_dockerignore(dy: Dy, engine: FakeEngine, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    (ctx / "src").mkdir(parents=True)
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo hello from run\nLABEL a=b\n")
    (ctx / "src" / "keep.py").write_text("k")
    (ctx / "src" / "skip.log").write_text("s")
    (ctx / "node_modules" / "x").mkdir(parents=True)
    (ctx / "node_modules" / "x" / "i.js").write_text("i")
    (ctx / "important.log").write_text("i")
    (ctx / ".dockerignore").write_text("# comment\n**/*.log\nnode_modules\n!important.log\nDockerfile\n")
    rc, out, err = dy(
        "build", "-t", "app:1", "-t", "app:2", "--build-arg", "V=1", "--label", "x=y", "--target", "final",
        "--no-cache", "--pull", str(ctx),
    )  # fmt: skip
    assert rc == 0, err
    assert "Step 2/3 : RUN echo hello from run\n" in out and "hello from run\n" in out
    assert out.endswith("Successfully tagged app:1\nSuccessfully tagged app:2\n")
    build = engine.resources.builds[-1]
    assert build["files"] == [".dockerignore", "Dockerfile", "important.log", "src", "src/keep.py"]
    q, ql = build["query"], build["qlist"]
    assert ql["t"] == ["app:1", "app:2"] and json.loads(q["buildargs"]) == {"V": "1"}
    assert json.loads(q["labels"]) == {"x": "y"} and (q["target"], q["nocache"], q["pull"]) == ("final", "1", "1")
    assert engine.find_image("app:2") is not None


def test_build_quiet_stdin_forms_and_failure(dy: Dy, engine: FakeEngine, tmp_path: Path) -> None:
    rc, out, _ = dy("build", "-q", "-", stdin="FROM busybox\nRUN echo hi\n")
    assert rc == 0 and out.startswith("sha256:") and out.strip() in engine.images
    assert engine.resources.builds[-1]["files"] == ["Dockerfile"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        df = b"FROM busybox\n"
        info = tarfile.TarInfo("custom.Dockerfile")
        info.size = len(df)
        tf.addfile(info, io.BytesIO(df))
    rc, out, err = dy("build", "-f", "custom.Dockerfile", "-", stdin=buf.getvalue())
    assert rc == 0, err
    assert engine.resources.builds[-1]["files"] == ["custom.Dockerfile"]
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("a")
    outside = tmp_path / "Other.Dockerfile"
    outside.write_text("FROM busybox\nRUN exit 3\n")
    iid = tmp_path / "iid"
    rc, out, err = dy("build", "-f", str(outside), "--iidfile", str(iid), str(ctx))
    assert rc == 1 and "returned a non-zero code: 3" in err and not iid.exists()
    sent = engine.resources.builds[-1]
    assert sent["query"]["dockerfile"].startswith(".dockerfile.") and sent["query"]["dockerfile"] in sent["files"]
    rc, _, err = dy("build", str(tmp_path / "nope"))
    assert rc == 1 and "not found" in err
    rc, _, err = dy("build", str(ctx))
    assert rc == 1 and "no such file or directory" in err


def test_build_progress_display(dy: Dy, engine: FakeEngine, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nLABEL a=b\nRUN echo step output\n")
    rc, out, err = dy("build", "--progress", "tty", "-t", "shown:1", str(tmp_path))
    assert rc == 0, err
    lines = [ln.rstrip() for ln in str(out).splitlines()]
    assert lines[0].startswith("[1/3] FROM busybox") and lines[0].endswith("s")
    assert lines[1].startswith("[2/3] LABEL a=b") and lines[1].endswith("CACHED")  # the fake reports a cache hit
    assert lines[2].startswith("[3/3] RUN echo step output") and "CACHED" not in lines[2]
    assert lines[3].strip() == "step output"
    rc, _, err = dy("build", "--progress", "tty", "-", stdin="FROM busybox\nRUN exit 4\n")
    assert rc == 1 and "returned a non-zero code: 4" in err


def test_run_pull_policies_use_stored_login(dy: Dy, engine: FakeEngine) -> None:
    rc, _, err = dy("run", "--pull", "never", "localhost:5000/app:9", "echo")
    assert rc == 125 and "No such image" in err and not engine.resources.pulled_auth
    engine.resources.remote_images["localhost:5000/app:9"] = ["l9"]
    assert dy("login", "-u", "user", "-p", "secret", "localhost:5000")[0] == 0
    rc, out, err = dy("run", "--rm", "--platform", "linux/amd64", "localhost:5000/app:9", "echo", "ran")
    assert (rc, out) == (0, "ran\n") and "Unable to find image 'localhost:5000/app:9' locally" in err
    assert engine.resources.pulled_auth == [
        {"username": "user", "password": "secret", "serveraddress": "localhost:5000"}
    ]
    pulls = [p for m, p in engine.requests if p.startswith("/images/create")]
    assert pulls and "platform=linux%2Famd64" in pulls[0]
    rc, out, _ = dy("run", "--rm", "--pull", "always", "localhost:5000/app:9", "echo", "again")
    assert (rc, out) == (0, "again\n") and len(engine.resources.pulled_auth) == 2


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_cp_in_owner_root_unless_archive(dy: Dy, engine: FakeEngine, tmp_path: Path) -> None:
    c = _running(engine, dy)
    root = Path(engine.resources.rootfs(c.id))
    (tmp_path / "owned.txt").write_text("o")
    os.chown(tmp_path / "owned.txt", 1234, 2345)
    assert dy("cp", str(tmp_path / "owned.txt"), "box:/etc/plain")[0] == 0
    assert dy("cp", "-a", str(tmp_path / "owned.txt"), "box:/etc/kept")[0] == 0
    plain, kept = (root / "etc" / "plain").stat(), (root / "etc" / "kept").stat()
    assert (plain.st_uid, plain.st_gid) == (0, 0)
    assert (kept.st_uid, kept.st_gid) == (1234, 2345)
