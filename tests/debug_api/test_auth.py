"""API keys: both header styles, 401s, scopes, cluster allowlists, /admin/keys, bootstrap."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import select

from pilothouse.audit.clock import utc_now
from pilothouse.audit.service import Actor
from pilothouse.auth import service
from pilothouse.auth.models import ApiKey
from pilothouse.settings import ConfigurationError, Settings
from tests.debug_api.conftest import Harness, MakeHarness, new_admin_key, running_app


@pytest.mark.parametrize("style", ["x-api-key", "bearer"])
async def test_both_header_styles_authenticate(harness: Harness, style: str) -> None:
    key = await harness.create_key("agent", ["read"])
    await harness.add_cluster("prod-1")
    response = await harness.http.get("/clusters/prod-1/status", headers=harness.auth(key, style=style))
    assert response.status_code == 200, response.text
    assert response.json()["cluster_id"] == "prod-1"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": ""},
        {"X-API-Key": "not-a-pilothouse-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer ph_unknownid_" + "x" * 43},
    ],
)
async def test_missing_or_invalid_keys_are_401(harness: Harness, headers: dict[str, str]) -> None:
    response = await harness.http.get("/debug/sessions", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "unauthorized"
    assert body["details"]["code"] == "UNAUTHORIZED"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_wrong_secret_for_a_real_key_id_is_401(harness: Harness) -> None:
    key = await harness.create_key("agent")
    prefix, key_id, _secret = key.split("_", 2)
    forged = f"{prefix}_{key_id}_{'A' * 43}"
    response = await harness.http.get("/clusters", headers=harness.auth(forged))
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid API key"


async def test_keys_are_stored_as_salted_hashes_only(harness: Harness) -> None:
    key = await harness.create_key("agent")
    _prefix, key_id, secret = key.split("_", 2)
    assert len(secret) >= 43  # 32 random bytes, URL-safe base64
    async with harness.app.state.database.session() as session:
        row = await session.get(ApiKey, key_id)
    assert row is not None
    assert secret not in (row.secret_hash, row.secret_salt)
    assert row.secret_hash != hashlib.sha256(secret.encode()).hexdigest()
    assert row.secret_hash == hashlib.sha256(bytes.fromhex(row.secret_salt) + secret.encode()).hexdigest()


async def test_missing_scope_is_403_and_audited(harness: Harness) -> None:
    key = await harness.create_key("reader", ["read"])
    response = await harness.http.get("/clusters", headers=harness.auth(key))
    assert response.status_code == 403
    body = response.json()
    assert body["error"] == "insufficient_scope"
    assert body["details"]["code"] == "FORBIDDEN"
    assert body["details"]["required_scope"] == "admin"
    audit = await harness.audit(action="auth.denied")
    (event,) = audit["events"]
    assert event["outcome"] == "denied"
    assert event["principal_name"] == "reader"
    assert event["details"] == {"required_scope": "admin"}


async def test_cluster_allowlist_is_enforced_and_audited(harness: Harness) -> None:
    key = await harness.create_key("limited", ["read"], clusters=["cluster-a"])
    await harness.add_cluster("cluster-a")
    await harness.add_cluster("cluster-b")
    allowed = await harness.http.get("/clusters/cluster-a/status", headers=harness.auth(key))
    denied = await harness.http.get("/clusters/cluster-b/status", headers=harness.auth(key))
    session = await harness.http.post(
        "/debug/session", json={"cluster_id": "cluster-b"}, headers=harness.auth(key)
    )
    execute = await harness.execute(key, cluster_id="cluster-b", command_type="get", args=["pods"])
    assert allowed.status_code == 200
    for response in (denied, session, execute):
        assert response.status_code == 403
        assert response.json()["error"] == "forbidden"
        assert response.json()["details"]["allowed_clusters"] == ["cluster-a"]
    audit = await harness.audit(action="auth.denied", cluster_id="cluster-b")
    assert audit["total"] == 3


async def test_admin_keys_api_creates_lists_and_revokes(harness: Harness) -> None:
    created = await harness.http.post(
        "/admin/keys",
        json={"name": "orchestrator", "scopes": ["read", "write"], "clusters": ["prod-1"]},
        headers=harness.auth(),
    )
    assert created.status_code == 201, created.text
    body = created.json()
    key = body["key"]
    assert key.startswith(f"ph_{body['key_id']}_")
    assert body["scopes"] == ["read", "write"]
    assert body["clusters"] == ["prod-1"]
    assert body["status"] == "active"

    listing = await harness.http.get("/admin/keys", headers=harness.auth())
    assert listing.status_code == 200
    keys = {item["key_id"]: item for item in listing.json()["keys"]}
    assert set(keys) == {"bootstrap", body["key_id"]}
    assert key not in listing.text
    assert "secret" not in listing.text
    assert keys[body["key_id"]]["key_hint"] == f"ph_{body['key_id']}_…"

    await harness.add_cluster("prod-1")
    assert (await harness.http.get("/clusters/prod-1/status", headers=harness.auth(key))).status_code == 200
    revoked = await harness.http.delete(f"/admin/keys/{body['key_id']}", headers=harness.auth())
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    again = await harness.http.delete(f"/admin/keys/{body['key_id']}", headers=harness.auth())
    assert again.status_code == 200
    # Revocation in this process takes effect at once, cache or not.
    after = await harness.http.get("/clusters/prod-1/status", headers=harness.auth(key))
    assert after.status_code == 401
    assert after.json()["message"] == "API key revoked"
    missing = await harness.http.delete("/admin/keys/nope", headers=harness.auth())
    assert missing.status_code == 404
    audit = await harness.audit(action="key")
    assert sorted(event["action"] for event in audit["events"]) == ["key.create", "key.create", "key.revoke"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["superuser"]}, "scopes.0"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "", "scopes": ["read"]}, "name"),
        ({"name": "x", "clusters": ["Not_A_Cluster"]}, "clusters.0"),
    ],
)
async def test_invalid_key_requests_are_422(harness: Harness, body: dict[str, Any], field: str) -> None:
    response = await harness.http.post("/admin/keys", json=body, headers=harness.auth())
    assert response.status_code == 422
    assert field in [error["field"] for error in response.json()["details"]["errors"]]


async def test_non_admins_cannot_manage_keys(harness: Harness) -> None:
    key = await harness.create_key("writer", ["read", "write", "delete", "exec"])
    response = await harness.http.post("/admin/keys", json={"name": "x"}, headers=harness.auth(key))
    assert response.status_code == 403


async def test_revocation_elsewhere_is_seen_after_the_cache_time(make_harness: MakeHarness) -> None:
    async with make_harness(auth_cache_seconds=0) as harness:
        key = await harness.create_key("agent")
        assert (await harness.http.get("/debug/result/cmd_x", headers=harness.auth(key))).status_code == 404
        # As `pilothouse keys revoke` does, straight in the database, not through this process.
        async with harness.app.state.database.session() as session:
            await service.revoke_key(session, key.split("_")[1], actor=Actor.cli(), now=utc_now())
        assert (await harness.http.get("/debug/result/cmd_x", headers=harness.auth(key))).status_code == 401


async def test_the_bootstrap_key_is_created_once_and_checked(backend: dict[str, Any]) -> None:
    admin_key = new_admin_key()
    settings = Settings(**{**backend, "bootstrap_admin_key": admin_key})
    async with running_app(settings) as app:
        async with app.state.database.session() as session:
            rows = (await session.scalars(select(ApiKey))).all()
        assert [(row.id, row.name, row.scopes) for row in rows] == [
            ("bootstrap", "bootstrap-admin", ["admin"])
        ]
    # A restart with the same key changes nothing.
    async with running_app(settings):
        pass
    # The same key id with another secret is a configuration error, not a second admin.
    with pytest.raises(ConfigurationError, match="another secret"):
        async with running_app(Settings(**{**backend, "bootstrap_admin_key": new_admin_key()})):
            pass
    with pytest.raises(ConfigurationError, match="at least 32"):
        async with running_app(Settings(**{**backend, "bootstrap_admin_key": "ph_short_abc"})):
            pass


def test_key_format_parsing() -> None:
    assert service.parse_key("ph_0123abcd_se_cr-et") == ("0123abcd", "se_cr-et")
    assert service.parse_key("ph__secret") is None
    assert service.parse_key("xx_id_secret") is None
    assert service.parse_key("ph_id_") is None
    assert service.parse_key("ph_id") is None
