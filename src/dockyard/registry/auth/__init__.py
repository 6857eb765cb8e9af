"""Registry authentication: htpasswd basic auth and Docker's bearer-token flow."""

from dockyard.registry.auth.authorizer import Authorizer, BasicAuth, NoAuth, TokenAuth
from dockyard.registry.auth.scopes import CATALOG, AccessPolicy, Scope
from dockyard.registry.auth.tokens import IssuedToken, TokenIssuer, TokenKey
from dockyard.registry.auth.users import UserDB, hash_password, parse_htpasswd

__all__ = [
    "CATALOG",
    "AccessPolicy",
    "Authorizer",
    "BasicAuth",
    "IssuedToken",
    "NoAuth",
    "Scope",
    "TokenAuth",
    "TokenIssuer",
    "TokenKey",
    "UserDB",
    "hash_password",
    "parse_htpasswd",
]
