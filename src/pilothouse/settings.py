"""Process configuration: environment variables over an optional YAML file over defaults.

Every field can be set as ``PILOTHOUSE_<FIELD>`` (nested groups use ``__``, e.g.
``PILOTHOUSE_RATE_LIMITS__COMMANDS_PER_CLUSTER_PER_MINUTE=50``) or in a YAML file whose
path is given explicitly to :func:`load_settings` or in ``PILOTHOUSE_CONFIG``::

    port: 9000
    redis_url: redis://redis:6379/0
    rate_limits:
      commands_per_cluster_per_minute: 100

Precedence, highest first: keyword arguments, environment, YAML file, defaults.

JWT secret: if ``jwt_secret`` is unset, :func:`ensure_jwt_secret` generates one on first
start and persists it in a ``jwt_secret`` file (mode 0600) next to the SQLite database, so
tokens survive restarts. With PostgreSQL, replicas cannot share a local file, so the
secret must be configured explicitly; with an in-memory SQLite database it is ephemeral.
"""

from __future__ import annotations

import os
import secrets
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)
from sqlalchemy.engine import make_url

CONFIG_FILE_ENV = "PILOTHOUSE_CONFIG"
JWT_SECRET_FILENAME = "jwt_secret"  # noqa: S105 - a file name, not a secret

SecurityMode = Literal["readOnly", "extendedReadOnly", "fullAccess"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LogFormat = Literal["json", "console"]

# pydantic-settings builds its sources in a classmethod that cannot take arguments, so the
# explicit file chosen by load_settings() reaches it through this variable.
_explicit_config_file: ContextVar[Path | None] = ContextVar("pilothouse_config_file", default=None)


class ConfigurationError(RuntimeError):
    """The configuration cannot work (raised at start, before serving anything)."""


class RateLimitSettings(BaseModel):
    """Per-minute limits; defaults are the numbers published in the specs.

    Where two specs publish different numbers for the same thing the more permissive one
    is the default, so no client written against either document is throttled early.
    """

    enabled: bool = True
    # Kubently: "Client API calls: 100 requests per minute per API key".
    api_requests_per_key_per_minute: int = Field(default=100, ge=1)
    # Kubently: "Command execution: 50 commands per minute per cluster".
    commands_per_cluster_per_minute: int = Field(default=50, ge=1)
    # Kubently reference says 10, the A2A document says 20.
    sessions_per_key_per_minute: int = Field(default=20, ge=1)
    # Kubilitics section 17: reads 200/min, writes 50/min, burst +20/min.
    cluster_read_per_minute: int = Field(default=200, ge=1)
    cluster_write_per_minute: int = Field(default=50, ge=1)
    cluster_burst_per_minute: int = Field(default=20, ge=0)
    log_streams_concurrent: int = Field(default=100, ge=1)
    investigations_per_minute: int = Field(default=20, ge=1)
    investigations_concurrent: int = Field(default=5, ge=1)
    chat_messages_per_minute: int = Field(default=50, ge=1)
    chat_sessions_concurrent: int = Field(default=10, ge=1)
    # Kubilitics: service tokens get 5x, admin tokens 10x the user limits.
    service_token_multiplier: int = Field(default=5, ge=1)
    admin_token_multiplier: int = Field(default=10, ge=1)
    # Agentbox.
    auth_requests_per_minute: int = Field(default=10, ge=1)
    environment_creations_per_minute: int = Field(default=20, ge=1)
    sandbox_commands_per_minute: int = Field(default=100, ge=1)
    other_requests_per_minute: int = Field(default=200, ge=1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PILOTHOUSE_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # Base URL under which clients and executors reach this server (behind a proxy it
    # differs from host:port); None means derive it from host and port.
    public_url: str | None = None

    database_url: str = "sqlite+aiosqlite:///./.pilothouse/pilothouse.db"
    # Replicas started together should not all race to migrate; turn off and run
    # migrations as a separate step when scaled out.
    migrate_on_start: bool = True
    # None selects the in-process bus (single process only).
    redis_url: str | None = None
    redis_key_prefix: str = "pilothouse:"

    log_level: LogLevel = "INFO"
    log_format: LogFormat = "json"

    jwt_secret: SecretStr | None = None

    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)

    default_security_mode: SecurityMode = "readOnly"
    # Cluster API: the cluster a request without X-Kubeconfig-Context (or ?cluster=) is about.
    # None: the only registered cluster, if there is exactly one.
    default_cluster: str | None = None
    # /api/v1/ws: messages a client may fall behind before it is dropped as a slow consumer.
    watch_queue_messages: int = Field(default=1000, ge=1)
    # Periodic insight scans of every registered cluster (interval: the AI settings, PUT
    # /api/v1/ai/config). Off in tests that want scans only when they ask for one.
    insight_scans: bool = True
    # Kubently ExecuteCommandRequest: timeout_seconds default 10, range 1-30.
    command_timeout_default_seconds: int = Field(default=10, ge=1)
    command_timeout_max_seconds: int = Field(default=30, ge=1)
    # Kubently CreateSessionRequest: ttl_seconds default 300, range 60-3600.
    session_ttl_default_seconds: int = Field(default=300, ge=1)
    session_ttl_min_seconds: int = Field(default=60, ge=1)
    session_ttl_max_seconds: int = Field(default=3600, ge=1)
    # How long an executor may hold a command before it is redelivered; must outlast the
    # longest command or a slow command would run twice.
    executor_lease_seconds: float = Field(default=45.0, gt=0)

    max_request_body_bytes: int = Field(default=10 * 1024 * 1024, ge=0)

    # --- Debug API (auth, clusters, sessions, commands) -------------------------------------
    # An admin API key (ph_<key id>_<secret>) created at start if its key id does not exist
    # yet, so a fresh deployment can be administered over HTTP. See docs/security.md.
    bootstrap_admin_key: SecretStr | None = None
    # How long a verified API key or executor token is trusted without reading the database;
    # a revocation in another process takes effect within this time.
    auth_cache_seconds: float = Field(default=30.0, ge=0)
    # An executor counts as connected while its last request is at most this old.
    executor_stale_seconds: float = Field(default=45.0, gt=0)
    # How long past a command's timeout the server waits for its result (delivery, network)
    # before answering 408.
    command_result_grace_seconds: float = Field(default=5.0, ge=0)
    # A command whose leases keep expiring (its executors die) is given up after this many
    # deliveries.
    command_max_deliveries: int = Field(default=3, ge=1)
    # Command output is redacted, then cut to this many bytes and marked truncated.
    max_output_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Finished commands (and their output) are deleted this many days after they were created;
    # 0 keeps them forever. Audit events are never deleted (docs/security.md).
    command_retention_days: float = Field(default=7.0, ge=0, le=36500, allow_inf_nan=False)

    @model_validator(mode="after")
    def _check_ranges(self) -> Settings:
        if not self.command_timeout_default_seconds <= self.command_timeout_max_seconds:
            raise ValueError("command_timeout_default_seconds must not exceed command_timeout_max_seconds")
        if not (
            self.session_ttl_min_seconds <= self.session_ttl_default_seconds <= self.session_ttl_max_seconds
        ):
            raise ValueError("session ttl must satisfy min <= default <= max")
        if self.executor_lease_seconds <= self.command_timeout_max_seconds:
            raise ValueError("executor_lease_seconds must exceed command_timeout_max_seconds")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _explicit_config_file.get() or _config_file_from_env()
        if config_file is not None:
            if not config_file.is_file():
                raise ConfigurationError(f"configuration file not found: {config_file}")
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)

    @property
    def effective_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def sqlite_path(self) -> Path | None:
        """The database file for a file-backed SQLite URL, else None."""
        url = make_url(self.database_url)
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        if url.query.get("mode") == "memory":
            return None
        return Path(url.database).expanduser()


def _config_file_from_env() -> Path | None:
    value = os.environ.get(CONFIG_FILE_ENV)
    return Path(value) if value else None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read settings from the environment and the YAML file (explicit, else PILOTHOUSE_CONFIG)."""
    token = _explicit_config_file.set(config_file)
    try:
        return Settings(**overrides)
    finally:
        _explicit_config_file.reset(token)


def ensure_jwt_secret(settings: Settings) -> Settings:
    """Return settings whose jwt_secret is set, generating and persisting one if needed."""
    if settings.jwt_secret is not None and settings.jwt_secret.get_secret_value():
        return settings
    db_file = settings.sqlite_path
    if db_file is None:
        if make_url(settings.database_url).get_backend_name() == "sqlite":
            # In-memory database: nothing survives a restart anyway.
            return settings.model_copy(update={"jwt_secret": SecretStr(secrets.token_urlsafe(48))})
        raise ConfigurationError(
            "PILOTHOUSE_JWT_SECRET must be set when the database is not a local SQLite file: "
            "replicas sharing the database must share the secret"
        )
    secret_file = db_file.parent / JWT_SECRET_FILENAME
    secret_file.parent.mkdir(parents=True, exist_ok=True)
    if not secret_file.exists():
        # Write a private temporary file and hard-link it into place: the link fails if
        # another process won the race, and nobody ever reads a half-written secret.
        candidate = secret_file.with_name(f".{JWT_SECRET_FILENAME}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(candidate, secret_file)
        except FileExistsError:
            pass
        finally:
            candidate.unlink()
    value = secret_file.read_text(encoding="utf-8").strip()
    if not value:
        raise ConfigurationError(f"{secret_file} is empty; delete it or set PILOTHOUSE_JWT_SECRET")
    return settings.model_copy(update={"jwt_secret": SecretStr(value)})
