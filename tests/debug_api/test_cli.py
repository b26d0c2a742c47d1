"""`pilothouse keys|clusters|audit` work on the database directly, before any server runs."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from pilothouse.cli.audit import parse_moment
from pilothouse.cli.main import app
from pilothouse.settings import Settings
from pilothouse.sim.serving import write_kubeconfig
from tests.debug_api.conftest import executor_headers, running_app


@pytest.fixture
def cli(tmp_path: Path) -> tuple[CliRunner, dict[str, str], Settings]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    env = {"PILOTHOUSE_DATABASE_URL": database_url, "PILOTHOUSE_PUBLIC_URL": "https://pilothouse.example"}
    return CliRunner(), env, Settings(database_url=database_url)


def _get(settings: Settings, path: str, headers: dict[str, str]) -> httpx.Response:
    async def request() -> httpx.Response:
        async with running_app(settings) as served:
            transport = httpx.ASGITransport(app=served)
            async with httpx.AsyncClient(transport=transport, base_url="http://cli") as http:
                return await http.get(path, headers=headers)

    return asyncio.run(request())


def test_keys_create_list_revoke(cli: tuple[CliRunner, dict[str, str], Settings]) -> None:
    runner, env, settings = cli
    created = runner.invoke(app, ["keys", "create", "--name", "ops", "--scopes", "read,admin"], env=env)
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("ph_")
    key_id = key.split("_")[1]
    assert _get(settings, "/admin/keys", {"X-API-Key": key}).status_code == 200

    listed = runner.invoke(app, ["keys", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    (entry,) = json.loads(listed.stdout)
    assert (entry["key_id"], entry["name"], entry["scopes"], entry["status"]) == (
        key_id,
        "ops",
        ["read", "admin"],
        "active",
    )
    assert key not in listed.stdout

    revoked = runner.invoke(app, ["keys", "revoke", key_id], env=env)
    assert revoked.exit_code == 0, revoked.output
    assert _get(settings, "/admin/keys", {"X-API-Key": key}).status_code == 401


def test_invalid_key_options_fail_with_a_message(cli: tuple[CliRunner, dict[str, str], Settings]) -> None:
    runner, env, _settings = cli
    result = runner.invoke(app, ["keys", "create", "--name", "x", "--scopes", "root"], env=env)
    assert result.exit_code == 1
    assert "unknown scope 'root'" in result.stderr
    missing = runner.invoke(app, ["keys", "revoke", "nope"], env=env)
    assert missing.exit_code == 1
    assert "not found" in missing.stderr


def test_clusters_add_list_rotate_remove(cli: tuple[CliRunner, dict[str, str], Settings]) -> None:
    runner, env, settings = cli
    added = runner.invoke(app, ["clusters", "add", "prod-1", "--security-mode", "fullAccess"], env=env)
    assert added.exit_code == 0, added.output
    lines = added.stdout.splitlines()
    token = lines[lines.index("Executor token for prod-1 (shown only this once):") + 1]
    assert token.startswith("phc_")
    assert (
        f"  pilothouse executor --server https://pilothouse.example --cluster-id prod-1 --token {token}"
        in lines
    )
    assert _get(settings, "/agent/status", executor_headers("prod-1", token)).status_code == 200

    listed = runner.invoke(app, ["clusters", "list", "--json"], env=env)
    (entry,) = json.loads(listed.stdout)
    assert (entry["cluster_id"], entry["security_mode"], entry["transport"]) == (
        "prod-1",
        "fullAccess",
        "tunnel",
    )
    assert entry["status"] == "connected"

    rotated = runner.invoke(app, ["clusters", "rotate-token", "prod-1"], env=env)
    assert rotated.exit_code == 0, rotated.output
    new_token = rotated.stdout.splitlines()[1]
    assert new_token != token
    assert _get(settings, "/agent/status", executor_headers("prod-1", token)).status_code == 401
    assert _get(settings, "/agent/status", executor_headers("prod-1", new_token)).status_code == 200

    removed = runner.invoke(app, ["clusters", "remove", "prod-1"], env=env)
    assert removed.exit_code == 0
    assert json.loads(runner.invoke(app, ["clusters", "list", "--json"], env=env).stdout) == []
    invalid = runner.invoke(app, ["clusters", "add", "Bad_Id"], env=env)
    assert invalid.exit_code == 1
    assert "Invalid cluster id" in invalid.stderr


def test_audit_command(cli: tuple[CliRunner, dict[str, str], Settings]) -> None:
    runner, env, _settings = cli
    runner.invoke(app, ["clusters", "add", "prod-1"], env=env)
    runner.invoke(app, ["clusters", "add", "prod-2"], env=env)
    runner.invoke(app, ["keys", "create", "--name", "ops"], env=env)

    everything = runner.invoke(app, ["audit", "--json", "--since", "1h"], env=env)
    assert everything.exit_code == 0, everything.output
    events = [json.loads(line) for line in everything.stdout.splitlines()]
    assert [event["action"] for event in events] == ["key.create", "cluster.add", "cluster.add"]
    assert all(event["principal_name"].startswith("cli:") for event in events)

    one_cluster = runner.invoke(app, ["audit", "--cluster", "prod-2", "--json"], env=env)
    assert [json.loads(line)["cluster_id"] for line in one_cluster.stdout.splitlines()] == ["prod-2"]
    limited = runner.invoke(app, ["audit", "--limit", "1"], env=env)
    assert len(limited.stdout.splitlines()) == 1
    assert "1 of 3 shown" in limited.stderr
    nothing = runner.invoke(app, ["audit", "--until", "2000-01-01T00:00:00"], env=env)
    assert nothing.stdout == ""
    bad = runner.invoke(app, ["audit", "--since", "yesterday"], env=env)
    assert bad.exit_code == 2


def test_parse_moment() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert parse_moment("90m", now=now).isoformat() == "2026-01-01T10:30:00+00:00"
    assert parse_moment("2d", now=now).isoformat() == "2025-12-30T12:00:00+00:00"
    assert parse_moment("2026-01-01T13:00:00+01:00", now=now).isoformat() == "2026-01-01T12:00:00+00:00"


def test_clusters_add_direct_with_a_kubeconfig(
    cli: tuple[CliRunner, dict[str, str], Settings], tmp_path: Path
) -> None:
    runner, env, _ = cli
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", "https://127.0.0.1:6443", token="t", ca_pem=None)
    added = runner.invoke(
        app,
        ["clusters", "add", "prod", "--kubeconfig", str(kubeconfig), "--security-mode", "fullAccess"],
        env=env,
    )
    assert added.exit_code == 0, added.output
    assert "(direct, fullAccess)" in added.output
    assert "Executor token" not in added.output
    listed = json.loads(runner.invoke(app, ["clusters", "list", "--json"], env=env).stdout)
    assert [(entry["cluster_id"], entry["transport"]) for entry in listed] == [("prod", "direct")]

    unknown = runner.invoke(
        app, ["clusters", "add", "other", "--kubeconfig", str(kubeconfig), "--context", "nope"], env=env
    )
    assert unknown.exit_code != 0
    assert "nope" in unknown.output
    missing = runner.invoke(app, ["clusters", "add", "gone", "--kubeconfig", str(tmp_path / "none")], env=env)
    assert missing.exit_code != 0
    without = runner.invoke(app, ["clusters", "add", "bare", "--context", "x"], env=env)
    assert without.exit_code != 0
    rotate = runner.invoke(app, ["clusters", "rotate-token", "prod"], env=env)
    assert rotate.exit_code != 0
