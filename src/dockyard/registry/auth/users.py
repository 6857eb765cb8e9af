"""Users with bcrypt password hashes (htpasswd format), checked with a small result cache."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import bcrypt

from dockyard.errors import InvalidArgument

__all__ = ["UserDB", "hash_password", "parse_htpasswd"]


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()


def parse_htpasswd(text: str) -> dict[str, str]:
    """``user:$2y$...`` lines; only bcrypt hashes are accepted (like Docker's registry)."""
    users: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, pw_hash = line.partition(":")
        if not sep or not user or not pw_hash.startswith(("$2a$", "$2b$", "$2y$")):
            raise InvalidArgument(f"htpasswd line {n}: expected user:bcrypt-hash")
        users[user] = pw_hash
    return users


class UserDB:
    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = dict(users)
        # bcrypt is deliberately slow; remember successful checks so each request is not.
        self._ok: set[bytes] = set()

    @classmethod
    def load(cls, htpasswd: str, inline: Mapping[str, str]) -> UserDB:
        users = parse_htpasswd(Path(htpasswd).read_text()) if htpasswd else {}
        users.update(inline)
        return cls(users)

    def check(self, user: str, password: str) -> bool:
        pw_hash = self._users.get(user)
        if pw_hash is None:
            return False
        key = hashlib.sha256(f"{user}\0{password}\0{pw_hash}".encode()).digest()
        if key in self._ok:
            return True
        # bcrypt libraries differ on $2y$; it is the same algorithm as $2b$.
        stored = pw_hash.replace("$2y$", "$2b$", 1).encode()
        try:
            ok = bcrypt.checkpw(password.encode(), stored)
        except ValueError:
            return False
        if ok:
            self._ok.add(key)
        return ok
