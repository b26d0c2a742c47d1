"""Who a client request acts for, and what it may do."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from pilothouse.audit.service import Actor


class Scope(StrEnum):
    """API key scopes. ``admin`` includes every other scope."""

    READ = "read"
    WRITE = "write"
    DELETE = "delete"
    EXEC = "exec"
    ADMIN = "admin"


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    """Scopes from names; raises ValueError naming the first unknown one."""
    scopes: set[Scope] = set()
    for value in values:
        name = value.strip().lower()
        if not name:
            continue
        try:
            scopes.add(Scope(name))
        except ValueError:
            known = ", ".join(scope.value for scope in Scope)
            raise ValueError(f"unknown scope {value!r}; known scopes: {known}") from None
    return frozenset(scopes)


class TokenKind(StrEnum):
    """What kind of credential authenticated a principal.

    An API key, or a bearer JWT of one of the Kubilitics kinds; the kind sets the JWT's
    default lifetime and the principal's rate-limit multiplier.
    """

    API_KEY = "api_key"
    USER = "user"
    SERVICE = "service"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    # The API key id, or "jwt:<sub>" for a bearer JWT (see auth.tokens.principal_key_id):
    # what owns sessions and commands, and what rate limits count against.
    key_id: str
    name: str
    scopes: frozenset[Scope]
    # None: every cluster. Otherwise only these cluster ids.
    clusters: frozenset[str] | None
    # X-Service-Identity of this request: which service is calling with the key.
    service_identity: str | None = None
    # A JWT's default namespace, for routes that take an optional namespace.
    namespace: str | None = None
    token_kind: TokenKind = TokenKind.API_KEY
    # A JWT's jti (what revokes it); None for API keys.
    token_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN in self.scopes

    @property
    def is_jwt(self) -> bool:
        return self.token_kind is not TokenKind.API_KEY

    def has_scope(self, scope: Scope) -> bool:
        return self.is_admin or scope in self.scopes

    def may_access_cluster(self, cluster_id: str) -> bool:
        return self.clusters is None or cluster_id in self.clusters

    def actor(self, *, correlation_id: str | None = None, service_identity: str | None = None) -> Actor:
        """This principal as the cause of an audit event in the current request."""
        return Actor(
            key_id=self.key_id,
            name=self.name,
            service_identity=service_identity or self.service_identity,
            correlation_id=correlation_id,
        ).with_request_context()
