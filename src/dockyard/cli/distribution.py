"""``pull``, ``push``, ``login`` and ``logout``: registries, through the daemon, with stored credentials."""

from __future__ import annotations

import getpass
import sys

import click

from dockyard import errors
from dockyard.cli.arguments import split_repo_tag
from dockyard.cli.context import client_from
from dockyard.cli.credentials import docker_config
from dockyard.cli.messages import show_messages
from dockyard.client import Client
from dockyard.client.auth import AuthConfig, DockerConfig, normalize_server, registry_of

__all__ = ["commands", "full_reference"]


def full_reference(name: str, tag: str | None) -> str:
    """The name docker prints after a pull: ``docker.io/library/busybox:latest`` for Hub images."""
    first, sep, _ = name.partition("/")
    if not sep or not ("." in first or ":" in first or first == "localhost"):
        name = "docker.io/" + (name if sep else "library/" + name)
    return f"{name}@{tag}" if tag and tag.startswith("sha256:") else f"{name}:{tag or 'latest'}"


def _auth_for(name: str) -> AuthConfig | None:
    return docker_config().get(registry_of(name))


def _default_tag(tag: str | None, all_tags: bool, quiet: bool) -> str | None:
    """``latest`` when the reference names no tag (and says so, as docker), ``None`` for ``--all-tags``."""
    if all_tags and tag:
        raise errors.InvalidArgument("tag can't be used with --all-tags/-a")
    if not tag and not all_tags:
        if not quiet:
            click.echo("Using default tag: latest")
        return "latest"
    return tag


@click.command()
@click.option("-a", "--all-tags", is_flag=True, help="Download all tagged images in the repository.")
@click.option("--platform", help="Set platform if server is multi-platform capable.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@click.argument("name")
@click.pass_context
def pull(ctx: click.Context, all_tags: bool, platform: str | None, quiet: bool, name: str) -> int:
    """Download an image from a registry."""
    repo, tag = (name.split("@", 1)[0], name.split("@", 1)[1]) if "@" in name else split_repo_tag(name)
    tag = _default_tag(tag, all_tags, quiet)
    messages = client_from(ctx).pull(repo, None if all_tags else tag, platform=platform, auth=_auth_for(repo))
    show_messages(messages, sys.stdout, quiet=quiet)
    click.echo(full_reference(repo, tag) if not all_tags else full_reference(repo, None).rsplit(":", 1)[0])
    return 0


@click.command()
@click.option("-a", "--all-tags", is_flag=True, help="Push all tags of an image to the repository.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@click.argument("name")
@click.pass_context
def push(ctx: click.Context, all_tags: bool, quiet: bool, name: str) -> int:
    """Upload an image to a registry."""
    repo, tag = split_repo_tag(name)
    tag = _default_tag(tag, all_tags, quiet)
    messages = client_from(ctx).push(repo, tag, auth=_auth_for(repo))
    show_messages(messages, sys.stdout, quiet=quiet)  # an error message in the stream raises
    if quiet:
        click.echo(f"{repo}:{tag}" if tag else repo)
    return 0


def _read_password_stdin() -> str:
    data = sys.stdin.read()
    return data.removesuffix("\n").removesuffix("\r")


@click.command()
@click.option("-u", "--username", help="Username.")
@click.option("-p", "--password", help="Password.")
@click.option("--password-stdin", is_flag=True, help="Take the password from stdin.")
@click.argument("server", required=False)
@click.pass_context
def login(
    ctx: click.Context, username: str | None, password: str | None, password_stdin: bool, server: str | None
) -> int:
    """Log in to a registry (Docker Hub if no server is given)."""
    if password is not None and password_stdin:
        raise errors.InvalidArgument("--password and --password-stdin are mutually exclusive")
    if password_stdin:
        if not username:
            raise errors.InvalidArgument("Must provide --username with --password-stdin")
        password = _read_password_stdin()
    elif password is not None:
        print("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", file=sys.stderr)
    address = normalize_server(server)
    config = docker_config()
    client = client_from(ctx)
    if username is None and password is None:
        stored = config.get(address)
        if stored is not None and (stored.password or stored.identitytoken):
            click.echo("Authenticating with existing credentials...")
            try:
                _authenticate(client, config, stored)
                return 0
            except errors.Unauthorized:
                print("Stored credentials invalid or expired", file=sys.stderr)
    if not username:
        username = _prompt("Username: ")
    if not username:
        raise errors.InvalidArgument("Username is required")
    if password is None:
        password = getpass.getpass("Password: ") if sys.stdin.isatty() else _read_password_stdin()
    if not password:
        raise errors.InvalidArgument("Error: Password Required")
    _authenticate(client, config, AuthConfig(address, username, password))
    return 0


def _prompt(text: str) -> str:
    sys.stdout.write(text)
    sys.stdout.flush()
    return sys.stdin.readline().strip()


def _authenticate(client: Client, config: DockerConfig, auth: AuthConfig) -> None:
    answer = client.auth(auth)
    token = str(answer.get("IdentityToken") or "")
    stored = AuthConfig(auth.serveraddress, auth.username, "" if token else auth.password, token)
    if config.helper_for(auth.serveraddress) is None:
        print(
            f"WARNING! Your password will be stored unencrypted in {config.path}.\n"
            "Configure a credential helper to remove this warning. See\n"
            "https://docs.docker.com/engine/reference/commandline/login/#credentials-store\n",
            file=sys.stderr,
        )
    config.store(stored)
    click.echo(answer.get("Status") or "Login Succeeded")


@click.command()
@click.argument("server", required=False)
def logout(server: str | None) -> int:
    """Log out from a registry (Docker Hub if no server is given)."""
    address = normalize_server(server)
    config = docker_config()
    if not config.erase(address):
        click.echo(f"Not logged in to {address}")
        return 0
    click.echo(f"Removing login credentials for {address}")
    return 0


def commands() -> list[click.Command]:
    return [pull, push, login, logout]
