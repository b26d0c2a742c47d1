"""Kubilitics rate limits (section 17) on the Cluster API dependencies: per principal, reads and
writes apart, base + burst, tier multipliers, X-RateLimit-* headers with Reset-After, the
``rate_limit_exceeded`` 429, and the concurrency limiter for log streams."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from pilothouse.auth import tokens
from pilothouse.auth.dependencies import log_stream_slot, rate_tier
from pilothouse.auth.principal import Principal, Scope, TokenKind
from pilothouse.errors import RateLimited, RateLimitExceeded
from pilothouse.ratelimit.service import (
    ConcurrencyLimiter,
    LimitCategory,
    RateLimiter,
    RateLimitStatus,
    RateTier,
)
from pilothouse.settings import RateLimitSettings
from tests.foundation.conftest import REDIS_URL
from tests.foundation.test_jwt_auth import ADMIN_KEY, SECRET, Served, bearer, make_settings, serve

# Small numbers so that running into a limit takes a handful of requests.
SMALL = {"cluster_read_per_minute": 3, "cluster_write_per_minute": 2, "cluster_burst_per_minute": 2}


def token_for(sub: str, kind: str = "user", scopes: tuple[str, ...] = ("read", "write")) -> str:
    claims = tokens.new_claims(sub=sub, scopes=list(scopes), kind=kind, now=datetime.now(UTC))
    return tokens.encode_token(claims, SECRET)


@pytest.fixture
async def limited(sqlite_url: str) -> AsyncIterator[Served]:
    async with serve(make_settings(sqlite_url, rate_limits=SMALL)) as running:
        yield running


async def test_headers_on_cluster_api_responses_include_reset_after(sqlite_url: str) -> None:
    async with serve(make_settings(sqlite_url)) as served:
        first = await served.http.get("/_probe/read", headers=bearer(token_for("alice")))
        second = await served.http.get("/_probe/read", headers=bearer(token_for("alice")))
        write = await served.http.post("/_probe/write", headers=bearer(token_for("alice")))
    assert first.status_code == 200, first.text
    # Kubilitics: 200 reads per minute plus the burst allowance of 20.
    assert first.headers["X-RateLimit-Limit"] == "220"
    assert first.headers["X-RateLimit-Remaining"] == "219"
    assert second.headers["X-RateLimit-Remaining"] == "218"
    reset = int(first.headers["X-RateLimit-Reset"])
    assert time.time() - 1 <= reset <= time.time() + 61
    assert 0 <= int(first.headers["X-RateLimit-Reset-After"]) <= 60
    # Writes are a separate allowance: 50 + 20.
    assert (write.headers["X-RateLimit-Limit"], write.headers["X-RateLimit-Remaining"]) == ("70", "69")


async def test_after_limit_plus_burst_comes_rate_limit_exceeded(limited: Served) -> None:
    token = bearer(token_for("alice"))
    responses = [await limited.http.get("/_probe/read", headers=token) for _ in range(6)]
    assert [response.status_code for response in responses] == [200] * 5 + [429]
    assert [response.headers["X-RateLimit-Remaining"] for response in responses] == [
        "4",
        "3",
        "2",
        "1",
        "0",
        "0",
    ]
    refused = responses[-1]
    body = refused.json()
    assert body["error"] == "rate_limit_exceeded"
    assert body["details"]["code"] == "RATE_LIMITED"
    assert body["details"]["category"] == "cluster_read"
    assert body["details"]["tier"] == "user"
    assert body["details"]["limit"] == 5
    assert body["details"]["burst"] == 2
    assert 1 <= body["retry_after"] <= 60
    assert refused.headers["Retry-After"] == str(body["retry_after"])
    assert refused.headers["X-RateLimit-Limit"] == "5"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(refused.headers["X-RateLimit-Reset-After"]) <= 60
    # Writes are still allowed, and so is another principal; the same subject with another
    # token shares the allowance (it is counted per principal, not per token).
    assert (await limited.http.post("/_probe/write", headers=token)).status_code == 200
    assert (await limited.http.get("/_probe/read", headers=bearer(token_for("bob")))).status_code == 200
    again = await limited.http.get("/_probe/read", headers=bearer(token_for("alice")))
    assert again.status_code == 429


async def test_writes_deletes_execs_and_admin_share_the_write_allowance(limited: Served) -> None:
    token = bearer(token_for("root", kind="user", scopes=("admin",)))
    calls = [("POST", "/_probe/write"), ("DELETE", "/_probe/delete"), ("POST", "/_probe/exec")]
    calls += [("POST", "/_probe/admin"), ("POST", "/_probe/write")]
    statuses = [
        (await limited.http.request(method, path, headers=token)).status_code for method, path in calls
    ]
    # A user JWT with the admin scope stays in the user tier: (2 + 2) writes per minute.
    assert statuses == [200, 200, 200, 200, 429]


@pytest.mark.parametrize(
    ("kind", "scopes", "tier", "limit"),
    [
        ("user", ("read",), "user", 5),
        ("service", ("read",), "service", 25),
        ("admin", ("admin",), "admin", 50),
    ],
)
async def test_tier_multipliers(
    limited: Served, kind: str, scopes: tuple[str, ...], tier: str, limit: int
) -> None:
    token = bearer(token_for(f"{kind}-principal", kind=kind, scopes=scopes))
    statuses = [(await limited.http.get("/_probe/read", headers=token)).status_code for _ in range(limit + 1)]
    assert statuses == [200] * limit + [429]
    refused = await limited.http.get("/_probe/read", headers=token)
    assert refused.json()["details"]["tier"] == tier
    assert refused.headers["X-RateLimit-Limit"] == str(limit)


async def test_api_keys_are_admin_tier_with_the_admin_scope_else_user(limited: Served) -> None:
    reader = await limited.create_key("reader", ["read"])
    as_reader = await limited.http.get("/_probe/read", headers={"X-API-Key": reader})
    as_admin = await limited.http.get("/_probe/read", headers={"X-API-Key": ADMIN_KEY})
    assert as_reader.headers["X-RateLimit-Limit"] == "5"
    assert as_admin.headers["X-RateLimit-Limit"] == "50"


async def test_a_request_is_counted_once_per_category(limited: Served) -> None:
    token = bearer(token_for("carol"))
    response = await limited.http.get("/_probe/twice", headers=token)
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Remaining"] == "4"


async def test_denied_scope_still_spends_the_allowance(limited: Served) -> None:
    token = bearer(token_for("dave", scopes=("read",)))
    denied = await limited.http.post("/_probe/write", headers=token)
    assert denied.status_code == 403
    assert denied.headers["X-RateLimit-Remaining"] == "3"


async def test_unauthenticated_requests_carry_no_limit_headers(limited: Served) -> None:
    response = await limited.http.get("/_probe/read")
    assert response.status_code == 401
    assert "X-RateLimit-Limit" not in response.headers


async def test_debug_api_headers_gain_reset_after(limited: Served) -> None:
    response = await limited.http.get("/admin/keys", headers={"X-API-Key": ADMIN_KEY})
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit"] == "100"
    assert 0 <= int(response.headers["X-RateLimit-Reset-After"]) <= 60
    # Its 429 keeps the Kubently spelling.
    assert RateLimited.error == "rate_limited"


async def test_disabled_limits_send_no_headers(sqlite_url: str) -> None:
    async with serve(make_settings(sqlite_url, rate_limits={"enabled": False})) as served:
        response = await served.http.get("/_probe/read", headers=bearer(token_for("erin")))
    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response.headers


async def test_tiered_counters_live_in_redis_when_configured(sqlite_url: str, redis_prefix: str) -> None:
    overrides: dict[str, Any] = {
        "rate_limits": SMALL,
        "redis_url": REDIS_URL,
        "redis_key_prefix": redis_prefix,
    }
    token = bearer(token_for("frank"))
    async with AsyncExitStack() as stack:
        # Two servers on one Redis: a principal's allowance is shared between replicas.
        first = await stack.enter_async_context(serve(make_settings(sqlite_url, **overrides)))
        second = await stack.enter_async_context(serve(make_settings(sqlite_url, **overrides)))
        statuses = []
        for index in range(6):
            client: httpx.AsyncClient = (first if index % 2 else second).http
            statuses.append((await client.get("/_probe/read", headers=token)).status_code)
    assert statuses == [200] * 5 + [429]


# --- The limiter and the helpers, directly -------------------------------------------------


def test_effective_limits_per_category_and_tier() -> None:
    limiter = RateLimiter(RateLimitSettings(), redis_url=None, key_prefix="t:")
    assert limiter.limit_of(LimitCategory.CLUSTER_READ) == 220
    assert limiter.limit_of(LimitCategory.CLUSTER_WRITE) == 70
    assert limiter.limit_of(LimitCategory.CLUSTER_READ, RateTier.SERVICE) == 1100
    assert limiter.limit_of(LimitCategory.CLUSTER_WRITE, RateTier.ADMIN) == 700
    # The Kubently limits are flat.
    assert limiter.limit_of(LimitCategory.API, RateTier.ADMIN) == 100
    assert limiter.limit_of(LimitCategory.COMMANDS, RateTier.SERVICE) == 50


def test_status_headers_count_down_to_the_reset() -> None:
    status = RateLimitStatus(limit=220, remaining=187, reset_at=1_644_514_625.2)
    assert status.headers(now=1_644_514_580.0) == {
        "X-RateLimit-Limit": "220",
        "X-RateLimit-Remaining": "187",
        "X-RateLimit-Reset": "1644514625",
        "X-RateLimit-Reset-After": "46",
    }
    assert status.reset_after(now=1_644_514_700.0) == 0


def _principal(kind: TokenKind, scopes: frozenset[Scope] = frozenset({Scope.READ})) -> Principal:
    return Principal("jwt:p", "p", scopes, None, token_kind=kind)


def test_rate_tiers_of_principals() -> None:
    assert rate_tier(_principal(TokenKind.USER)) is RateTier.USER
    assert rate_tier(_principal(TokenKind.USER, frozenset({Scope.ADMIN}))) is RateTier.USER
    assert rate_tier(_principal(TokenKind.SERVICE)) is RateTier.SERVICE
    assert rate_tier(_principal(TokenKind.ADMIN, frozenset({Scope.ADMIN}))) is RateTier.ADMIN
    assert rate_tier(_principal(TokenKind.API_KEY)) is RateTier.USER
    assert rate_tier(_principal(TokenKind.API_KEY, frozenset({Scope.ADMIN}))) is RateTier.ADMIN


async def test_concurrency_limiter_holds_releases_and_refuses() -> None:
    limiter = ConcurrencyLimiter(
        "log_streams", 2, multipliers={RateTier.USER: 1, RateTier.SERVICE: 5, RateTier.ADMIN: 10}
    )
    async with limiter.hold("alice"), limiter.hold("alice"):
        assert limiter.active("alice") == 2
        with pytest.raises(RateLimitExceeded) as refused:
            async with limiter.hold("alice"):
                pass
        # Others are not affected, and a service principal has five times the slots.
        async with limiter.hold("bob"):
            assert limiter.active("bob") == 1
        async with AsyncExitStack() as stack:
            for _ in range(10):
                await stack.enter_async_context(limiter.hold("svc", tier=RateTier.SERVICE))
            assert limiter.active("svc") == 10
    error = refused.value
    assert (error.status_code, error.error) == (429, "rate_limit_exceeded")
    assert error.details["category"] == "log_streams"
    assert error.details["concurrent"] == 2
    assert error.headers["Retry-After"] == "5"
    assert error.headers["X-RateLimit-Limit"] == "2"
    # Every slot was released, also by the block that failed.
    assert (limiter.active("alice"), limiter.active("bob"), limiter.active("svc")) == (0, 0, 0)
    with pytest.raises(RuntimeError):
        async with limiter.hold("alice"):
            raise RuntimeError("stream broke")
    assert limiter.active("alice") == 0


async def test_log_stream_slot_uses_the_settings_and_the_principal_tier() -> None:
    limiter = RateLimiter(RateLimitSettings(log_streams_concurrent=1), redis_url=None, key_prefix="t:")
    user = _principal(TokenKind.USER)
    admin = Principal("jwt:a", "a", frozenset({Scope.ADMIN}), None, token_kind=TokenKind.ADMIN)
    async with log_stream_slot(limiter, user):
        with pytest.raises(RateLimitExceeded):
            async with log_stream_slot(limiter, user):
                pass
    async with AsyncExitStack() as stack:
        for _ in range(10):
            await stack.enter_async_context(log_stream_slot(limiter, admin))
        with pytest.raises(RateLimitExceeded):
            await stack.enter_async_context(log_stream_slot(limiter, admin))
    disabled = RateLimiter(
        RateLimitSettings(enabled=False, log_streams_concurrent=1), redis_url=None, key_prefix="t:"
    )
    async with log_stream_slot(disabled, user), log_stream_slot(disabled, user):
        pass
