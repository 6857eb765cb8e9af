"""Image commands: images, rmi, tag, load, save, import and ``image bootstrap``."""

from __future__ import annotations

import sys
from typing import IO

import click

from dockyard import errors
from dockyard.cli.archive_output import refuse_terminal, write_archive
from dockyard.cli.arguments import each, parse_filters, split_repo_tag
from dockyard.cli.context import client_from
from dockyard.cli.lazy import LazyGroup
from dockyard.cli.listing import IMAGE_HEADERS, image_rows, render_rows
from dockyard.cli.messages import show_messages

__all__ = ["commands"]

_IMAGES_DEFAULT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
_IMAGES_DIGESTS = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"


@click.command()
@click.option("-a", "--all", "all_", is_flag=True, help="Show all images (default hides intermediate images).")
@click.option("--digests", is_flag=True, help="Show digests.")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided.")
@click.option("--format", "fmt", help="Format output: 'table', 'table TEMPLATE', 'json' or a Go template.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.argument("repository", required=False)
@click.pass_context
def images(
    ctx: click.Context,
    all_: bool,
    digests: bool,
    filters: tuple[str, ...],
    fmt: str | None,
    no_trunc: bool,
    quiet: bool,
    repository: str | None,
) -> int:
    """List images."""
    flt = parse_filters(filters)
    if repository:
        flt.setdefault("reference", []).append(repository)
    listed = client_from(ctx).images(all=all_, filters=flt, digests=digests)
    rows = [r for img in listed for r in image_rows(img, no_trunc=no_trunc, digests=digests)]
    if quiet:
        ids = list(dict.fromkeys(r["ID"] for r in rows))
        if ids:
            click.echo("\n".join(ids))
        return 0
    text = render_rows(rows, fmt, _IMAGES_DIGESTS if digests else _IMAGES_DEFAULT, IMAGE_HEADERS)
    if text is not None:
        click.echo(text)
    return 0


@click.command()
@click.option("-f", "--force", is_flag=True, help="Force removal of the image.")
@click.option("--no-prune", is_flag=True, help="Do not delete untagged parents.")
@click.argument("images", nargs=-1, required=True)
@click.pass_context
def rmi(ctx: click.Context, force: bool, no_prune: bool, images: tuple[str, ...]) -> int:
    """Remove one or more images."""
    client = client_from(ctx)

    def remove(ref: str) -> None:
        for item in client.remove_image(ref, force=force, noprune=no_prune):
            for key, value in item.items():
                click.echo(f"{key}: {value}")

    return each(images, remove, echo=False)


@click.command()
@click.argument("source")
@click.argument("target")
@click.pass_context
def tag(ctx: click.Context, source: str, target: str) -> int:
    """Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE."""
    repo, tag_ = split_repo_tag(target)
    client_from(ctx).tag(source, repo, tag_ or "latest")
    return 0


@click.command()
@click.option("-i", "--input", "input_", type=click.Path(dir_okay=False), help="Read from tar archive file.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the load output.")
@click.pass_context
def load(ctx: click.Context, input_: str | None, quiet: bool) -> int:
    """Load an image from a tar archive or STDIN."""
    if input_ is None and sys.stdin.isatty():
        raise errors.InvalidArgument("requested load from stdin, but stdin is empty")
    src: IO[bytes] = open(input_, "rb") if input_ else sys.stdin.buffer  # noqa: SIM115 - closed below
    try:
        show_messages(client_from(ctx).load(src, quiet=quiet), sys.stdout, quiet=False)
    finally:
        if input_:
            src.close()
    return 0


@click.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file, instead of STDOUT.")
@click.argument("images", nargs=-1, required=True)
@click.pass_context
def save(ctx: click.Context, output: str | None, images: tuple[str, ...]) -> int:
    """Save one or more images to a tar archive (streamed to STDOUT by default)."""
    refuse_terminal(output)
    write_archive(client_from(ctx).save(list(images)), output)
    return 0


@click.command("import")
@click.option("-c", "--change", "changes", multiple=True, help="Apply Dockerfile instruction to the created image.")
@click.option("-m", "--message", help="Set commit message for imported image.")
@click.option("--platform", hidden=True)
@click.argument("file")
@click.argument("reference", required=False)
@click.pass_context
def import_(
    ctx: click.Context,
    changes: tuple[str, ...],
    message: str | None,
    platform: str | None,
    file: str,
    reference: str | None,
) -> int:
    """Import the contents from a tarball (file, URL or - for STDIN) to create a filesystem image."""
    repo, tag_ = split_repo_tag(reference) if reference else (None, None)
    client = client_from(ctx)

    def send(data: IO[bytes] | None, source: str) -> None:
        messages = client.import_image(data, source=source, repo=repo, tag=tag_, message=message, changes=list(changes))
        show_messages(messages, sys.stdout)

    if file == "-":
        send(sys.stdin.buffer, "-")
    elif file.startswith(("http://", "https://")):
        send(None, file)
    else:
        try:
            f = open(file, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise errors.InvalidArgument(f"open {file}: {exc.strerror}") from None
        with f:
            send(f, "-")
    return 0


_IMAGE_LAZY = {
    "build": "dockyard.cli.build:build",
    "pull": "dockyard.cli.distribution:pull",
    "push": "dockyard.cli.distribution:push",
    "prune": "dockyard.cli.system_ops:image_prune",
    "inspect": "dockyard.cli.inspect_image:inspect",
}


@click.group(cls=LazyGroup, lazy=_IMAGE_LAZY)
def image() -> None:
    """Manage images."""


@image.command()
@click.argument("kind")
@click.option("--tag", "tag_", help="Name the image (default: busybox:latest, debian:SUITE).")
@click.pass_context
def bootstrap(ctx: click.Context, kind: str, tag_: str | None) -> int:
    """Build a base image locally: busybox (the host's static busybox binary) or
    debian[:SUITE] (debootstrap minbase from the host's Debian mirror; default bookworm)."""
    if kind.partition(":")[0] not in ("busybox", "debian"):
        raise click.BadParameter("use busybox or debian[:SUITE]", param_hint="KIND")
    show_messages(client_from(ctx).bootstrap(kind, tag_), sys.stdout)
    return 0


for _name, _cmd in (("ls", images), ("rm", rmi), ("tag", tag), ("load", load), ("save", save), ("import", import_)):
    image.add_command(_cmd, _name)


def commands() -> list[click.Command]:
    return [images, rmi, tag, load, save, import_, image]
