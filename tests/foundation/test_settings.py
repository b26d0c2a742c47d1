"""Settings: defaults, environment, YAML file, precedence, validation, the JWT secret."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from pilothouse.settings import ConfigurationError, Settings, ensure_jwt_secret, load_settings


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_match_the_specs() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///./.pilothouse/pilothouse.db"
    assert settings.redis_url is None
    assert settings.default_security_mode == "readOnly"
    assert (settings.command_timeout_default_seconds, settings.command_timeout_max_seconds) == (10, 30)
    assert (
        settings.session_ttl_min_seconds,
        settings.session_ttl_default_seconds,
        settings.session_ttl_max_seconds,
    ) == (60, 300, 3600)
    limits = settings.rate_limits
    assert limits.commands_per_cluster_per_minute == 50
    assert limits.api_requests_per_key_per_minute == 100
    assert (limits.cluster_read_per_minute, limits.cluster_write_per_minute) == (200, 50)
    assert limits.cluster_burst_per_minute == 20
    assert settings.executor_lease_seconds > settings.command_timeout_max_seconds


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PILOTHOUSE_PORT", "9001")
    monkeypatch.setenv("PILOTHOUSE_REDIS_URL", "redis://cache:6379/2")
    monkeypatch.setenv("PILOTHOUSE_LOG_FORMAT", "console")
    monkeypatch.setenv("PILOTHOUSE_DEFAULT_SECURITY_MODE", "extendedReadOnly")
    monkeypatch.setenv("PILOTHOUSE_RATE_LIMITS__COMMANDS_PER_CLUSTER_PER_MINUTE", "7")
    monkeypatch.setenv("PILOTHOUSE_JWT_SECRET", "from-env")
    settings = load_settings()
    assert settings.port == 9001
    assert settings.redis_url == "redis://cache:6379/2"
    assert settings.log_format == "console"
    assert settings.default_security_mode == "extendedReadOnly"
    assert settings.rate_limits.commands_per_cluster_per_minute == 7
    # The other limits keep their defaults.
    assert settings.rate_limits.sessions_per_key_per_minute == 20
    assert settings.jwt_secret is not None
    assert settings.jwt_secret.get_secret_value() == "from-env"
    assert "from-env" not in repr(settings)


def test_yaml_file_explicit(tmp_path: Path) -> None:
    config = write_yaml(
        tmp_path / "pilothouse.yaml",
        "port: 9100\n"
        "public_url: https://pilothouse.example.com/\n"
        "rate_limits:\n"
        "  sessions_per_key_per_minute: 3\n"
        "session_ttl_max_seconds: 7200\n",
    )
    settings = load_settings(config)
    assert settings.port == 9100
    assert settings.rate_limits.sessions_per_key_per_minute == 3
    assert settings.rate_limits.commands_per_cluster_per_minute == 50
    assert settings.session_ttl_max_seconds == 7200
    assert settings.effective_public_url == "https://pilothouse.example.com"


def test_environment_wins_over_file_including_nested(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_yaml(
        tmp_path / "c.yaml",
        "port: 9100\n"
        "host: 0.0.0.0\n"
        "rate_limits:\n"
        "  sessions_per_key_per_minute: 3\n"
        "  cluster_read_per_minute: 9\n",
    )
    monkeypatch.setenv("PILOTHOUSE_PORT", "9200")
    monkeypatch.setenv("PILOTHOUSE_RATE_LIMITS__SESSIONS_PER_KEY_PER_MINUTE", "4")
    settings = load_settings(config)
    assert settings.port == 9200
    assert settings.host == "0.0.0.0"
    assert settings.rate_limits.sessions_per_key_per_minute == 4
    # Nested groups merge: the file's other nested value survives the env override.
    assert settings.rate_limits.cluster_read_per_minute == 9
    assert settings.effective_public_url == "http://127.0.0.1:9200"


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_yaml(tmp_path / "env.yaml", "log_level: DEBUG\n")
    monkeypatch.setenv("PILOTHOUSE_CONFIG", str(config))
    assert load_settings().log_level == "DEBUG"
    # An explicit argument takes precedence over PILOTHOUSE_CONFIG.
    other = write_yaml(tmp_path / "other.yaml", "log_level: WARNING\n")
    assert load_settings(other).log_level == "WARNING"
    # The explicit file does not stick to later loads.
    assert load_settings().log_level == "DEBUG"


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not found"):
        load_settings(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    "yaml_text",
    [
        "prot: 9000\n",  # a typo must not be silently ignored
        "log_format: xml\n",
        "default_security_mode: readonly\n",
        "session_ttl_min_seconds: 600\n",  # above the default 300
        "command_timeout_default_seconds: 60\n",  # above the max 30
        "executor_lease_seconds: 30\n",  # not longer than the longest command
        "port: 70000\n",
    ],
)
def test_invalid_files_are_rejected(tmp_path: Path, yaml_text: str) -> None:
    with pytest.raises(ValidationError):
        load_settings(write_yaml(tmp_path / "bad.yaml", yaml_text))


def test_jwt_secret_generated_once_and_persisted(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/state/p.db")
    assert settings.jwt_secret is None
    first = ensure_jwt_secret(settings)
    second = ensure_jwt_secret(settings)
    assert first.jwt_secret is not None
    assert second.jwt_secret is not None
    assert first.jwt_secret.get_secret_value() == second.jwt_secret.get_secret_value()
    assert len(first.jwt_secret.get_secret_value()) >= 32
    secret_file = tmp_path / "state" / "jwt_secret"
    assert secret_file.read_text().strip() == first.jwt_secret.get_secret_value()
    assert secret_file.stat().st_mode & 0o777 == 0o600
    # No temporary files left behind.
    assert sorted(os.listdir(tmp_path / "state")) == ["jwt_secret"]


def test_configured_jwt_secret_is_kept(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/p.db", jwt_secret=SecretStr("mine"))
    assert ensure_jwt_secret(settings) is settings
    assert not (tmp_path / "jwt_secret").exists()


def test_jwt_secret_required_for_postgres() -> None:
    settings = Settings(database_url="postgresql+asyncpg://db/pilothouse")
    with pytest.raises(ConfigurationError, match="PILOTHOUSE_JWT_SECRET"):
        ensure_jwt_secret(settings)


def test_in_memory_sqlite_gets_an_ephemeral_secret() -> None:
    resolved = ensure_jwt_secret(Settings(database_url="sqlite+aiosqlite://"))
    assert resolved.jwt_secret is not None
    assert resolved.jwt_secret.get_secret_value()
