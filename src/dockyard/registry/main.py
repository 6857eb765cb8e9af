"""``dockyard registry serve|gc``: argparse front ends (also ``python -m dockyard.registry``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys

from dockyard.errors import DockyardError
from dockyard.registry.config import AuthConfig, RegistryConfig, TLSConfig, load_config
from dockyard.registry.gc import collect
from dockyard.registry.server import serve
from dockyard.registry.storage import FilesystemDriver
from dockyard.registry.store import RegistryStore

__all__ = ["gc_main", "main", "serve_main"]


def _config(args: argparse.Namespace) -> RegistryConfig:
    config = load_config(args.config) if args.config else RegistryConfig()
    return config.with_overrides(root=args.root)


def _serve_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dockyard registry serve", description="Serve an OCI distribution registry.")
    p.add_argument("--config", help="YAML or TOML config file")
    p.add_argument("--addr", help="HOST:PORT to listen on (default 127.0.0.1:5000)")
    p.add_argument("--root", help="storage directory")
    p.add_argument("--auth", choices=("none", "htpasswd", "token"), help="authentication mode")
    p.add_argument("--htpasswd", help="htpasswd file with bcrypt hashes")
    p.add_argument("--token-key", help="PEM private key that signs tokens (token mode)")
    p.add_argument("--tls-cert", help="TLS certificate (PEM)")
    p.add_argument("--tls-key", help="TLS private key (PEM)")
    p.add_argument("--no-delete", action="store_true", help="refuse all deletes (405 UNSUPPORTED)")
    p.add_argument("--max-manifest-size", type=int, help="bytes (413 above)")
    p.add_argument("--max-blob-size", type=int, help="bytes, 0 = unlimited (413 above)")
    p.add_argument("--max-concurrent-uploads", type=int, help="request bodies at once, 0 = unlimited (429 above)")
    p.add_argument("--upload-ttl", type=float, help="seconds before an idle upload is removed")
    p.add_argument("--no-access-log", action="store_true")
    p.add_argument("--log-level", default="INFO")
    return p


def serve_main(argv: list[str]) -> int:
    args = _serve_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(message)s", stream=sys.stderr)
    try:
        config = _config(args)
        auth = config.auth
        if args.auth or args.htpasswd or args.token_key:
            token = auth.token
            if args.token_key:
                token = dataclasses.replace(token, key_file=args.token_key)
            auth = AuthConfig(
                mode=args.auth or auth.mode,
                htpasswd=args.htpasswd or auth.htpasswd,
                users=auth.users,
                realm=auth.realm,
                access=auth.access,
                token=token,
            )
        tls = config.tls
        if args.tls_cert or args.tls_key:
            if not (args.tls_cert and args.tls_key):
                raise DockyardError("--tls-cert and --tls-key go together")
            tls = TLSConfig(args.tls_cert, args.tls_key)
        config = config.with_overrides(
            addr=args.addr,
            auth=auth,
            tls=tls,
            delete_enabled=False if args.no_delete else None,
            max_manifest_size=args.max_manifest_size,
            max_blob_size=args.max_blob_size,
            max_concurrent_uploads=args.max_concurrent_uploads,
            upload_ttl=args.upload_ttl,
            access_log=False if args.no_access_log else None,
        )
        serve(config)
    except DockyardError as exc:
        print(f"dockyard registry: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"dockyard registry: {exc}", file=sys.stderr)
        return 1
    return 0


def _gc_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dockyard registry gc", description="Delete blobs no manifest references.")
    p.add_argument("--config", help="YAML or TOML config file")
    p.add_argument("--root", help="storage directory")
    p.add_argument("--dry-run", action="store_true", help="report, delete nothing")
    p.add_argument("--delete-untagged", action="store_true", help="also delete manifests no tag reaches")
    p.add_argument("--grace", type=float, default=3600.0, help="keep blobs written in the last N seconds")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def gc_main(argv: list[str]) -> int:
    args = _gc_parser().parse_args(argv)
    try:
        config = _config(args)
        store = RegistryStore(FilesystemDriver(config.root))
        result = collect(store, dry_run=args.dry_run, delete_untagged=args.delete_untagged, grace=args.grace)
        if not args.dry_run:
            store.purge_uploads(config.upload_ttl)
    except (DockyardError, OSError) as exc:
        print(f"dockyard registry gc: {exc}", file=sys.stderr)
        return 1
    verb = "would delete" if args.dry_run else "deleted"
    if args.json:
        print(
            json.dumps(
                {
                    "dry_run": args.dry_run,
                    "marked": len(result.marked),
                    "manifests": [f"{n}@{d}" for n, d in result.deleted_manifests],
                    "blobs": [str(d) for d in result.deleted_blobs],
                    "freed_bytes": result.freed_bytes,
                }
            )
        )
    else:
        for name, d in result.deleted_manifests:
            print(f"{verb} manifest {name}@{d}")
        for d in result.deleted_blobs:
            print(f"{verb} blob {d}")
        print(
            f"{len(result.marked)} marked, {verb} {len(result.deleted_manifests)} manifests "
            f"and {len(result.deleted_blobs)} blobs ({result.freed_bytes} bytes)"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "serve":
        return serve_main(argv[1:])
    if argv and argv[0] == "gc":
        return gc_main(argv[1:])
    print("usage: python -m dockyard.registry {serve|gc} [options]", file=sys.stderr)
    return 2
