"""Bearer JWTs: issuing, every way a token can be bad, revocation (in-process and through the
database), scopes, the cluster_id restriction, WebSocket ?token=, the CLI and migration 0004."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
import pytest
import uvicorn
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, Depends, FastAPI, WebSocket
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from typer.testing import CliRunner
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from pilothouse.app import create_app
from pilothouse.auth import tokens
from pilothouse.auth.dependencies import (
    AccessGuardDep,
    ApiAdmin,
    ApiDeleter,
    ApiExecutor,
    ApiReader,
    ApiWriter,
    authenticate_credentials,
    authenticate_websocket,
    reject_websocket,
    require_api,
)
from pilothouse.auth.principal import Principal, Scope, TokenKind
from pilothouse.auth.tokens import TokenVerifier, principal_key_id
from pilothouse.cli.main import app as cli_app
from pilothouse.cli.tokens import parse_ttl
from pilothouse.errors import ApiError, InvalidToken, TokenExpired, TokenRevoked, ValidationFailed
from pilothouse.ratelimit.service import LimitCategory
from pilothouse.settings import JWT_SECRET_FILENAME, Settings
from pilothouse.store.database import Base, Database, create_engine
from pilothouse.store.migrate import alembic_config, import_model_modules, upgrade_to_head

SECRET = "test-secret-" + "s" * 40
ADMIN_KEY = f"ph_bootstrap_{'a' * 43}"

# --- A probe router: routes declaring the Cluster API dependencies -----------------------

probe = APIRouter(prefix="/_probe")


def describe(principal: Principal) -> dict[str, Any]:
    return {
        "key_id": principal.key_id,
        "name": principal.name,
        "scopes": sorted(principal.scopes),
        "clusters": sorted(principal.clusters) if principal.clusters is not None else None,
        "namespace": principal.namespace,
        "token_kind": principal.token_kind.value,
        "token_id": principal.token_id,
    }


@probe.get("/read")
async def probe_read(principal: ApiReader) -> dict[str, Any]:
    return describe(principal)


@probe.post("/write")
async def probe_write(principal: ApiWriter) -> dict[str, Any]:
    return describe(principal)


@probe.delete("/delete")
async def probe_delete(principal: ApiDeleter) -> dict[str, Any]:
    return describe(principal)


@probe.post("/exec")
async def probe_exec(principal: ApiExecutor) -> dict[str, Any]:
    return describe(principal)


@probe.post("/admin")
async def probe_admin(principal: ApiAdmin) -> dict[str, Any]:
    return describe(principal)


@probe.get("/clusters/{cluster_id}")
async def probe_cluster(cluster_id: str, principal: ApiReader, guard: AccessGuardDep) -> dict[str, Any]:
    await guard.require_cluster(principal, cluster_id)
    return describe(principal)


# A second, distinct dependency of the same category: the request is still counted once.
_also_reader = require_api(Scope.READ, LimitCategory.CLUSTER_READ)


@probe.get("/twice")
async def probe_twice(
    principal: ApiReader, again: Annotated[Principal, Depends(_also_reader)]
) -> dict[str, Any]:
    return describe(again)


@probe.websocket("/ws")
async def probe_websocket(websocket: WebSocket) -> None:
    try:
        principal = await authenticate_websocket(websocket, Scope.READ)
    except ApiError as exc:
        await reject_websocket(websocket, exc)
        return
    await websocket.accept()
    await websocket.send_json(describe(principal))
    await websocket.close()


def build_app(settings: Settings) -> FastAPI:
    app = create_app(settings)
    app.include_router(probe)
    return app


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "jwt_secret": SECRET,
        "bootstrap_admin_key": ADMIN_KEY,
        **overrides,
    }
    return Settings(**values)


@dataclass
class Served:
    app: FastAPI
    http: httpx.AsyncClient

    @property
    def verifier(self) -> TokenVerifier:
        verifier: TokenVerifier = self.app.state.token_verifier
        return verifier

    async def issue(self, expect: int = 201, key: str = ADMIN_KEY, **body: Any) -> dict[str, Any]:
        body.setdefault("sub", "alice")
        response = await self.http.post("/api/v1/auth/tokens", json=body, headers={"X-API-Key": key})
        assert response.status_code == expect, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def token(self, **body: Any) -> str:
        token: str = (await self.issue(**body))["token"]
        return token

    async def create_key(self, name: str, scopes: list[str], clusters: list[str] | None = None) -> str:
        response = await self.http.post(
            "/admin/keys",
            json={"name": name, "scopes": scopes, "clusters": clusters},
            headers={"X-API-Key": ADMIN_KEY},
        )
        assert response.status_code == 201, response.text
        key: str = response.json()["key"]
        return key

    async def audit(self, action: str) -> list[dict[str, Any]]:
        response = await self.http.get(
            "/debug/audit", params={"action": action}, headers={"X-API-Key": ADMIN_KEY}
        )
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()["events"]
        return events


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Served]:
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Served(app, http)


@pytest.fixture
async def served(sqlite_url: str) -> AsyncIterator[Served]:
    async with serve(make_settings(sqlite_url)) as running:
        yield running


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    if request.param == "sqlite":
        return sqlite_url
    url: str = request.getfixturevalue("postgres_url")
    return url


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims_now(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": "mallory",
        "iat": now,
        "exp": now + 3600,
        "jti": secrets.token_urlsafe(16),
        "scope": "read",
    }
    payload.update(overrides)
    return {key: value for key, value in payload.items() if value is not None}


def signed(payload: dict[str, Any], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, secret, algorithm=algorithm)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# --- Issuing and using tokens ----------------------------------------------------------


async def test_an_issued_token_authenticates_with_its_claims(served: Served) -> None:
    issued = await served.issue(
        sub="alice@example.com", scopes=["read", "write"], cluster_id="prod-1", namespace="shop"
    )
    assert issued["token_type"] == "Bearer"
    assert issued["kind"] == "user"
    assert issued["scope"] == "read,write"
    assert issued["expires_in"] == 24 * 3600
    decoded = jwt.decode(issued["token"], SECRET, algorithms=["HS256"])
    assert decoded["sub"] == "alice@example.com"
    assert decoded["scope"] == "read,write"
    assert decoded["cluster_id"] == "prod-1"
    assert decoded["namespace"] == "shop"
    assert decoded["jti"] == issued["jti"]
    assert decoded["exp"] - decoded["iat"] == 24 * 3600

    response = await served.http.get("/_probe/read", headers=bearer(issued["token"]))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "key_id": "jwt:alice@example.com",
        "name": "alice@example.com",
        "scopes": ["read", "write"],
        "clusters": ["prod-1"],
        "namespace": "shop",
        "token_kind": "user",
        "token_id": issued["jti"],
    }
    # The issue is audited, without the token.
    (event,) = await served.audit("token.issue")
    assert event["principal_name"] == "bootstrap-admin"
    assert event["details"]["jti"] == issued["jti"]
    assert event["details"]["sub"] == "alice@example.com"
    assert event["cluster_id"] == "prod-1"
    assert issued["token"] not in json.dumps(event)


@pytest.mark.parametrize(
    ("kind", "scopes", "lifetime"),
    [("user", ["read"], 24 * 3600), ("service", ["read"], 7 * 86400), ("admin", ["admin"], 90 * 86400)],
)
async def test_default_lifetimes_per_kind(
    served: Served, kind: str, scopes: list[str], lifetime: int
) -> None:
    issued = await served.issue(kind=kind, scopes=scopes)
    assert issued["expires_in"] == lifetime
    expires = datetime.fromisoformat(issued["expires_at"])
    issued_at = datetime.fromisoformat(issued["issued_at"])
    assert (expires - issued_at).total_seconds() == lifetime


async def test_ttl_scope_string_and_validation(served: Served) -> None:
    short = await served.issue(scopes="read,exec", ttl_seconds=60)
    assert short["expires_in"] == 60
    assert short["scopes"] == ["read", "exec"]
    # An admin token must carry the admin scope.
    refused = await served.issue(expect=422, kind="admin", scopes=["read"])
    assert refused["error"] == "validation_failed"
    assert refused["details"]["errors"][0]["field"] == "scopes"
    for body in (
        {"ttl_seconds": 91 * 86400},
        {"kind": "api_key"},
        {"scopes": ["root"]},
        {"namespace": "Not_A_Namespace"},
        {"cluster_id": "-bad"},
        {"sub": ""},
    ):
        await served.issue(expect=422, **body)


async def test_only_admins_issue_and_allowlisted_admins_only_for_their_clusters(served: Served) -> None:
    reader = await served.create_key("reader", ["read"])
    denied = await served.issue(expect=403, key=reader)
    assert denied["error"] == "insufficient_scope"
    confined = await served.create_key("confined-admin", ["admin"], clusters=["prod-1"])
    await served.issue(key=confined, cluster_id="prod-1")
    assert (await served.issue(expect=403, key=confined, cluster_id="prod-2"))["error"] == "forbidden"
    assert (await served.issue(expect=403, key=confined))["error"] == "forbidden"


async def test_api_keys_and_jwts_authenticate_every_way(served: Served) -> None:
    key = await served.create_key("agent", ["read"])
    token = await served.token(sub="agent-7", kind="service")
    for headers in ({"X-API-Key": key}, bearer(key), bearer(token)):
        response = await served.http.get("/_probe/read", headers=headers)
        assert response.status_code == 200, (headers, response.text)
    as_key = (await served.http.get("/_probe/read", headers=bearer(key))).json()
    assert as_key["token_kind"] == "api_key"
    assert as_key["token_id"] is None
    as_jwt = (await served.http.get("/_probe/read", headers=bearer(token))).json()
    assert (as_jwt["token_kind"], as_jwt["key_id"]) == ("service", "jwt:agent-7")
    # The Debug API accepts JWTs too (here an admin route).
    admin_token = await served.token(sub="ops", kind="admin", scopes=["admin"])
    sessions = await served.http.get("/debug/sessions", headers=bearer(admin_token))
    assert sessions.status_code == 200, sessions.text
    # HTTP routes do not read ?token= (URLs end up in logs); WebSockets do.
    in_query = await served.http.get("/_probe/read", params={"token": token})
    assert in_query.status_code == 401


# --- Bad tokens --------------------------------------------------------------------------


async def _refusal(served: Served, token: str) -> dict[str, Any]:
    response = await served.http.get("/_probe/read", headers=bearer(token))
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    body: dict[str, Any] = response.json()
    return body


async def test_expired_token_is_token_expired(served: Served) -> None:
    claims = tokens.new_claims(
        sub="alice", scopes=["read"], ttl_seconds=60, now=datetime.now(UTC) - timedelta(hours=1)
    )
    body = await _refusal(served, tokens.encode_token(claims, SECRET))
    assert body["error"] == "token_expired"
    assert body["details"]["code"] == "TOKEN_EXPIRED"
    # Within the leeway a just-expired token still passes (clock skew).
    now = int(time.time())
    fresh = signed(claims_now(iat=now - 60, exp=now - 2))
    assert (await served.http.get("/_probe/read", headers=bearer(fresh))).status_code == 200


@pytest.mark.parametrize(
    ("make_token", "message"),
    [
        (lambda: signed(claims_now(), secret="another-secret-" + "x" * 40), "bad signature"),
        (lambda: signed(claims_now(), secret="k" * 64, algorithm="HS512"), "only HS256"),
        (
            lambda: f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims_now(scope='admin'))}.",
            "only HS256",
        ),
        (
            lambda: jwt.encode(
                claims_now(scope="admin"),
                rsa.generate_private_key(public_exponent=65537, key_size=2048),
                algorithm="RS256",
            ),
            "only HS256",
        ),
        (lambda: "not.a.jwt", "malformed"),
        (lambda: f"{_b64({'alg': 'HS256'})}.e30.", "bad signature"),
        (lambda: signed(claims_now(sub=None)), "missing claim 'sub'"),
        (lambda: signed(claims_now(exp=None)), "missing claim 'exp'"),
        (lambda: signed(claims_now(iat=None)), "missing claim 'iat'"),
        (lambda: signed(claims_now(jti=None)), "missing claim 'jti'"),
        (lambda: signed(claims_now(scope=None)), "missing claim 'scope'"),
        (lambda: signed(claims_now(scope="read,root")), "bad 'scope'"),
        (lambda: signed(claims_now(scope=7)), "bad 'scope'"),
        (lambda: signed(claims_now(kind="api_key")), "bad 'kind'"),
        (lambda: signed(claims_now(kind="admin", scope="read")), "admin scope"),
        (lambda: signed(claims_now(cluster_id="Not Valid")), "bad 'cluster_id'"),
        (lambda: signed(claims_now(namespace="UPPER")), "bad 'namespace'"),
        (lambda: signed(claims_now(jti="x" * 65)), "bad 'jti'"),
        (lambda: signed(claims_now(sub="line\nbreak")), "bad 'sub'"),
        (lambda: signed(claims_now(iat=str(int(time.time())))), "numeric"),
        (lambda: signed(claims_now(iat=int(time.time()) + 3600)), "issued in the future"),
        (
            lambda: signed(claims_now(iat=int(time.time()), exp=int(time.time()) + 91 * 86400)),
            "lifetime exceeds 90 days",
        ),
    ],
)
async def test_bad_tokens_are_unauthorized(
    served: Served, make_token: Callable[[], str], message: str
) -> None:
    body = await _refusal(served, make_token())
    assert body["error"] == "unauthorized"
    assert body["details"]["code"] == "UNAUTHORIZED"
    assert message in body["message"]


async def test_scope_claim_may_be_a_json_list_or_space_separated(served: Served) -> None:
    for scope in (["read", "write"], "read write", '["read","write"]'):
        token = signed(claims_now(scope=scope))
        response = await served.http.post("/_probe/write", headers=bearer(token))
        assert response.status_code == 200, (scope, response.text)
        assert response.json()["scopes"] == ["read", "write"]


async def test_without_the_token_router_jwts_are_refused_not_crashed(served: Served) -> None:
    class Bare:
        authenticator = served.app.state.authenticator

    with pytest.raises(InvalidToken):
        await authenticate_credentials(Bare(), signed(claims_now()))  # type: ignore[arg-type]


# --- Scopes and clusters -----------------------------------------------------------------


async def test_each_api_dependency_requires_its_scope_and_audits_denials(served: Served) -> None:
    reader = await served.token(sub="reader", scopes=["read"])
    checks = [
        ("POST", "/_probe/write", "write"),
        ("DELETE", "/_probe/delete", "delete"),
        ("POST", "/_probe/exec", "exec"),
        ("POST", "/_probe/admin", "admin"),
    ]
    for method, path, scope in checks:
        response = await served.http.request(method, path, headers=bearer(reader))
        assert response.status_code == 403, response.text
        body = response.json()
        assert body["error"] == "insufficient_scope"
        assert body["details"]["required_scope"] == scope
    denials = await served.audit("auth.denied")
    assert sorted(event["details"]["required_scope"] for event in denials) == [
        "admin",
        "delete",
        "exec",
        "write",
    ]
    assert {event["key_id"] for event in denials} == {"jwt:reader"}
    # admin includes every other scope.
    admin = await served.token(sub="root", kind="admin", scopes=["admin"])
    for method, path, _scope in checks:
        assert (await served.http.request(method, path, headers=bearer(admin))).status_code == 200


async def test_a_token_with_cluster_id_reaches_only_that_cluster(served: Served) -> None:
    token = await served.token(cluster_id="prod-1")
    allowed = await served.http.get("/_probe/clusters/prod-1", headers=bearer(token))
    denied = await served.http.get("/_probe/clusters/prod-2", headers=bearer(token))
    assert allowed.status_code == 200
    assert denied.status_code == 403
    assert denied.json()["error"] == "forbidden"
    assert denied.json()["details"]["allowed_clusters"] == ["prod-1"]
    assert "token may not access cluster prod-2" in denied.json()["message"]
    anywhere = await served.token()
    assert (await served.http.get("/_probe/clusters/prod-2", headers=bearer(anywhere))).status_code == 200


def test_long_subjects_get_a_bounded_key_id() -> None:
    assert principal_key_id("alice") == "jwt:alice"
    long_id = principal_key_id("system:serviceaccount:" + "n" * 100)
    assert long_id.startswith("jwt:")
    assert len(long_id) == 64
    assert long_id == principal_key_id("system:serviceaccount:" + "n" * 100)


# --- Revocation ----------------------------------------------------------------------------


async def test_revocation_applies_at_once_in_this_process(served: Served) -> None:
    issued = await served.issue(sub="bob")
    token, jti = issued["token"], issued["jti"]
    assert (await served.http.get("/_probe/read", headers=bearer(token))).status_code == 200
    revoked = await served.http.post(
        f"/api/v1/auth/tokens/{jti}/revoke", json={"reason": "laptop lost"}, headers={"X-API-Key": ADMIN_KEY}
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["reason"] == "laptop lost"
    assert revoked.json()["revoked_by"] == "bootstrap-admin"
    body = await _refusal(served, token)
    assert body["error"] == "token_revoked"
    assert body["details"]["code"] == "TOKEN_REVOKED"
    # Idempotent; the listing shows it; the revocation is audited once.
    again = await served.http.post(f"/api/v1/auth/tokens/{jti}/revoke", headers={"X-API-Key": ADMIN_KEY})
    assert again.status_code == 200
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]
    listing = await served.http.get("/api/v1/auth/tokens/revoked", headers={"X-API-Key": ADMIN_KEY})
    assert listing.status_code == 200
    assert [item["jti"] for item in listing.json()["tokens"]] == [jti]
    (event,) = await served.audit("token.revoke")
    assert event["details"]["jti"] == jti
    assert event["reason"] == "laptop lost"
    # Other tokens of the same subject are unaffected.
    other = await served.token(sub="bob")
    assert (await served.http.get("/_probe/read", headers=bearer(other))).status_code == 200
    # Revoking needs the admin scope, and a plausible jti.
    forbidden = await served.http.post(f"/api/v1/auth/tokens/{jti}/revoke", headers=bearer(other))
    assert forbidden.status_code == 403
    bad = await served.http.post("/api/v1/auth/tokens/bad%20jti/revoke", headers={"X-API-Key": ADMIN_KEY})
    assert bad.status_code == 422


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_other_processes_see_a_revocation_when_they_reload(database_url: str) -> None:
    """A second verifier (another replica) on the same database: cached until the refresh."""
    async with serve(make_settings(database_url)) as served:
        monotonic = FakeMonotonic()
        replica = TokenVerifier(
            served.app.state.database, secret=SECRET, refresh_seconds=30, monotonic=monotonic
        )
        issued = await served.issue(sub="carol")
        assert (await replica.verify(issued["token"])).sub == "carol"
        response = await served.http.post(
            f"/api/v1/auth/tokens/{issued['jti']}/revoke", headers={"X-API-Key": ADMIN_KEY}
        )
        assert response.status_code == 200
        # The replica's list is fresh for 30 s: the token still passes there...
        monotonic.now += 29
        assert (await replica.verify(issued["token"])).sub == "carol"
        # ...and is refused once the list is reloaded (the spec: within 30 s).
        monotonic.now += 1
        with pytest.raises(TokenRevoked):
            await replica.verify(issued["token"])


async def test_a_reload_racing_a_revocation_cannot_undo_it(sqlite_url: str) -> None:
    await upgrade_to_head(sqlite_url)
    database = Database(sqlite_url)
    await database.connect()
    try:
        verifier = TokenVerifier(database, secret=SECRET, refresh_seconds=0)
        claims = tokens.new_claims(sub="dave", scopes=["read"], now=datetime.now(UTC))
        token = tokens.encode_token(claims, SECRET)
        await verifier.verify(token)
        # Marked revoked before the row is visible (a reload that read the table earlier).
        verifier.mark_revoked(claims.jti, claims.expires_at)
        await verifier.refresh(force=True)
        with pytest.raises(TokenRevoked):
            await verifier.verify(token)
    finally:
        await database.dispose()


async def test_expired_revocations_are_purged(served: Served) -> None:
    now = datetime.now(UTC)
    async with served.app.state.database.session() as session:
        await tokens.revoke_token(
            session,
            "old-token",
            actor=Principal("k", "n", frozenset(), None).actor(),
            now=now - timedelta(days=2),
            expires_at=now - timedelta(days=1),
        )
    async with served.app.state.database.session() as session:
        row = await tokens.revoke_token(
            session, "new-token", actor=Principal("k", "n", frozenset(), None).actor(), now=now
        )
        # Unknown expiry: kept for the longest lifetime a token may have.
        assert row.expires_at == now + tokens.MAX_LIFETIME
    async with served.app.state.database.session() as session:
        remaining = [row.jti for row in await tokens.list_revoked(session)]
    assert remaining == ["new-token"]


def test_decode_rejects_what_encode_did_not_sign() -> None:
    claims = tokens.new_claims(sub="erin", scopes=["read", "admin"], kind="admin", now=datetime.now(UTC))
    token = tokens.encode_token(claims, SECRET)
    decoded = tokens.decode_token(token, SECRET)
    assert decoded == claims
    with pytest.raises(InvalidToken):
        tokens.decode_token(token, SECRET + "x")
    header, payload, signature = token.split(".")
    tampered = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered["scope"] = "admin"
    with pytest.raises(InvalidToken):
        tokens.decode_token(f"{header}.{_b64(tampered)}.{signature}", SECRET)
    expired = tokens.new_claims(
        sub="erin", scopes=["read"], ttl_seconds=1, now=datetime(2020, 1, 1, tzinfo=UTC)
    )
    with pytest.raises(TokenExpired):
        tokens.decode_token(tokens.encode_token(expired, SECRET), SECRET)
    with pytest.raises(ValidationFailed):
        tokens.new_claims(sub="erin", scopes=[], now=datetime.now(UTC))


# --- WebSockets ----------------------------------------------------------------------------


@asynccontextmanager
async def live(settings: Settings) -> AsyncIterator[str]:
    """The probe app on a real uvicorn (which implements the WebSocket denial response)."""
    server = uvicorn.Server(
        uvicorn.Config(build_app(settings), host="127.0.0.1", port=0, log_config=None, lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if serving.done():
                    serving.result()
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)


async def ws_principal(url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    async with connect(url, additional_headers=headers) as websocket:
        answer: dict[str, Any] = json.loads(await websocket.recv())
        return answer


async def ws_refusal(url: str) -> tuple[int, dict[str, Any]]:
    with pytest.raises(InvalidStatus) as refused:
        await ws_principal(url)
    response = refused.value.response
    return response.status_code, json.loads(response.body or b"{}")


async def test_websockets_take_the_token_in_the_query_or_headers(sqlite_url: str) -> None:
    claims = tokens.new_claims(sub="frank", scopes=["read"], namespace="shop", now=datetime.now(UTC))
    token = tokens.encode_token(claims, SECRET)
    expired = tokens.new_claims(
        sub="frank", scopes=["read"], ttl_seconds=60, now=datetime.now(UTC) - timedelta(hours=1)
    )
    no_scope = tokens.new_claims(sub="frank", scopes=["exec"], now=datetime.now(UTC))
    async with live(make_settings(sqlite_url)) as base:
        principal = await ws_principal(f"{base}/_probe/ws?token={token}")
        assert (principal["key_id"], principal["namespace"]) == ("jwt:frank", "shop")
        assert (await ws_principal(f"{base}/_probe/ws", bearer(token)))["name"] == "frank"
        as_key = await ws_principal(f"{base}/_probe/ws?token={ADMIN_KEY}")
        assert as_key["token_kind"] == "api_key"
        # Refusals are the HTTP error an HTTP route would give, before the handshake completes.
        status, body = await ws_refusal(f"{base}/_probe/ws")
        assert (status, body["error"]) == (401, "unauthorized")
        status, body = await ws_refusal(f"{base}/_probe/ws?token={tokens.encode_token(expired, SECRET)}")
        assert (status, body["error"]) == (401, "token_expired")
        status, body = await ws_refusal(f"{base}/_probe/ws?token={tokens.encode_token(no_scope, SECRET)}")
        assert (status, body["error"]) == (403, "insufficient_scope")


# --- CLI -----------------------------------------------------------------------------------


def _get(settings: Settings, path: str, headers: dict[str, str]) -> httpx.Response:
    async def request() -> httpx.Response:
        async with serve(settings) as served:
            return await served.http.get(path, headers=headers)

    return asyncio.run(request())


def test_cli_issues_tokens_the_server_accepts_and_revokes_them(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'cli.db'}"
    env = {"PILOTHOUSE_DATABASE_URL": database_url}
    runner = CliRunner()
    issued = runner.invoke(
        cli_app,
        [
            *("tokens", "issue", "--sub", "ci-bot", "--scopes", "read,write", "--kind", "service"),
            *("--cluster", "prod-1", "--namespace", "ci", "--ttl", "2h"),
        ],
        env=env,
    )
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip().splitlines()[-1]
    # Signed with the secret file the server will find next to the database.
    secret = (tmp_path / "data" / JWT_SECRET_FILENAME).read_text().strip()
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert (claims["sub"], claims["scope"], claims["kind"]) == ("ci-bot", "read,write", "service")
    assert (claims["cluster_id"], claims["namespace"]) == ("prod-1", "ci")
    assert claims["exp"] - claims["iat"] == 7200

    # A server without jwt_secret configured finds the same file and accepts the token.
    settings = Settings(database_url=database_url, bootstrap_admin_key=ADMIN_KEY)
    accepted = _get(settings, "/_probe/read", bearer(token))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["token_kind"] == "service"

    revoked = runner.invoke(cli_app, ["tokens", "revoke", claims["jti"], "--reason", "rotated"], env=env)
    assert revoked.exit_code == 0, revoked.output
    assert claims["jti"] in revoked.stdout
    refused = _get(settings, "/_probe/read", bearer(token))
    assert refused.status_code == 401
    assert refused.json()["error"] == "token_revoked"

    listed = runner.invoke(cli_app, ["tokens", "revoked", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    (entry,) = json.loads(listed.stdout)
    assert (entry["jti"], entry["reason"]) == (claims["jti"], "rotated")
    assert entry["revoked_by"].startswith("cli:")

    as_json = runner.invoke(cli_app, ["tokens", "issue", "--sub", "x", "--json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["token_type"] == "Bearer"
    bad = runner.invoke(cli_app, ["tokens", "issue", "--sub", "x", "--kind", "admin"], env=env)
    assert bad.exit_code == 1
    assert "admin scope" in bad.output
    bad_ttl = runner.invoke(cli_app, ["tokens", "issue", "--sub", "x", "--ttl", "soon"], env=env)
    assert bad_ttl.exit_code == 2


def test_cli_refuses_to_sign_without_a_shared_secret_on_postgres() -> None:
    env = {"PILOTHOUSE_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none"}
    result = CliRunner().invoke(cli_app, ["tokens", "issue", "--sub", "x"], env=env)
    assert result.exit_code == 2
    assert "PILOTHOUSE_JWT_SECRET" in result.output


@pytest.mark.parametrize(
    ("value", "seconds"), [("3600", 3600), ("90s", 90), ("30m", 1800), ("24h", 86400), ("7d", 604800)]
)
def test_parse_ttl(value: str, seconds: int) -> None:
    assert parse_ttl(value) == seconds


# --- Migration 0004 ----------------------------------------------------------------------


def _revoked_tokens_differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [diff for diff in compare_metadata(context, Base.metadata) if "revoked_tokens" in repr(diff)]


def _downgrade_to_0003(connection: Connection, database_url: str) -> None:
    config = alembic_config(database_url)
    config.attributes["connection"] = connection
    command.downgrade(config, "0003")


async def test_migration_0004_matches_the_model(database_url: str) -> None:
    await upgrade_to_head(database_url)
    import_model_modules()
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
            assert "revoked_tokens" in tables
            assert await connection.run_sync(_revoked_tokens_differences) == []
        async with engine.begin() as connection:
            await connection.run_sync(_downgrade_to_0003, database_url)
        async with engine.connect() as connection:
            tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
        assert "revoked_tokens" not in tables
        assert "api_keys" in tables
    finally:
        await engine.dispose()


def test_principal_defaults_keep_api_keys_unchanged() -> None:
    principal = Principal("k1", "agent", frozenset({Scope.READ}), None)
    assert principal.token_kind is TokenKind.API_KEY
    assert principal.namespace is None
    assert not principal.is_jwt
