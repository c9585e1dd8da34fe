"""All configuration, read once from the environment (or a `.env` file)."""

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogFormat = Literal["plain", "json"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # libpq connection URI; unset, `python -m app.serve` starts an embedded PostgreSQL.
    database_url: str | None = None
    cluster_radius: float = Field(default=0.04, gt=0)
    # When set, every endpoint but `/`, `/health` and `/ready` needs `Authorization: Bearer <it>`.
    # Set but blank is refused: it would let a request without a token through.
    api_token: SecretStr | None = None
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    # Idempotency keys are kept at least this long; `python -m app.prune` deletes older ones.
    idempotency_ttl_hours: float = Field(default=24, gt=0, le=1_000_000)

    host: str = "127.0.0.1"
    port: int = 8004
    workers: int = Field(default=2, ge=1)
    # How long in-flight requests may take to finish after SIGTERM.
    graceful_shutdown_seconds: int = Field(default=10, gt=0)
    # How long a connection may take to send a request's headers, from when it opens or from the
    # first byte of a later request; then it is closed (app/protocol.py).
    header_timeout_seconds: float = Field(default=10, gt=0)
    # How long a connection may stay idle between requests.
    keep_alive_seconds: int = Field(default=5, ge=1)
    # Per worker: a request that finds this many connections open (idle ones and its own
    # included) or this many requests in flight gets uvicorn's 503. 1 would refuse everything.
    limit_concurrency: int = Field(default=500, ge=2)
    # The access log and the app's own lines (a 503's reason): plain text, or JSON lines.
    log_format: LogFormat = "plain"

    pool_min_size: int = Field(default=2, ge=1)
    pool_max_size: int = Field(default=10, ge=1)
    # The read endpoints' own pool, smaller: analysts' reads cannot take the connections that
    # saves need.
    read_pool_max_size: int = Field(default=3, ge=1)
    # How long a request may wait for a pooled connection before it gets a 503 ...
    pool_timeout: float = Field(default=1.5, gt=0)
    # ... and how many may wait at once; more get a 503 at once, so memory stays bounded.
    pool_max_waiting: int = Field(default=200, ge=1)
    # How long the pool keeps retrying a lost connection on its own; past that, new requests
    # start a fresh attempt, so the service is back at once when the database is.
    pool_reconnect_timeout: float = Field(default=2, gt=0)
    # Longest a single SQL statement (including a wait for a page lock) may run; at least a
    # millisecond, since PostgreSQL takes whole milliseconds and reads 0 as "no timeout".
    statement_timeout_seconds: float = Field(default=5, ge=0.001, le=2_147_483)
    # How long `python -m app.serve` waits for the database to accept connections.
    startup_wait_seconds: float = Field(default=60, gt=0)

    @field_validator("api_token")
    @classmethod
    def token_is_not_blank(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not token.get_secret_value().strip():
            raise ValueError("API_TOKEN is set but blank: unset it, or set a real token")
        return token

    def required_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set")
        return self.database_url


@lru_cache
def get_settings() -> Settings:
    return Settings()
