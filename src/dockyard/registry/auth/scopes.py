"""Scopes (``repository:name:pull,push``) and the access policy that grants them."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from dockyard.errors import InvalidArgument
from dockyard.registry.config import ACTIONS, AccessRule

__all__ = ["CATALOG", "AccessPolicy", "Scope"]


@dataclass(frozen=True)
class Scope:
    type: str
    name: str
    actions: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Scope:
        typ, sep, rest = text.partition(":")
        name, sep2, actions = rest.rpartition(":")
        if not sep or not sep2 or not typ or not name:
            raise InvalidArgument(f"invalid scope {text!r}")
        return cls(typ, name, frozenset(a for a in actions.split(",") if a))

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"

    def covered_by(self, granted: Iterable[Scope]) -> bool:
        have: set[str] = set()
        for g in granted:
            if g.type == self.type and g.name == self.name:
                have |= g.actions
        return "*" in have or self.actions <= have


CATALOG = Scope("registry", "catalog", frozenset({"*"}))


@dataclass(frozen=True)
class AccessPolicy:
    """Who may do what. Without rules, signed-in users may do everything and anonymous users nothing."""

    rules: tuple[AccessRule, ...] = ()

    def grant(self, account: str | None, scope: Scope) -> frozenset[str]:
        """The subset of ``scope.actions`` that ``account`` (None = anonymous) may perform."""
        if scope.type == "registry" and scope.name == "catalog":
            return scope.actions & {"*"} if account is not None else frozenset()
        if scope.type != "repository":
            return frozenset()
        if not self.rules:
            return scope.actions & ACTIONS if account is not None else frozenset()
        allowed: set[str] = set()
        for rule in self.rules:
            if rule.account == "anonymous":
                applies = account is None
            elif rule.account == "*":
                applies = account is not None
            else:
                applies = account == rule.account
            if applies and fnmatch.fnmatchcase(scope.name, rule.repository):
                allowed |= rule.actions
        return frozenset(scope.actions & allowed)
