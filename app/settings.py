"""All configuration, read once from the environment (or a `.env` file)."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # libpq connection URI; unset, `python -m app.serve` starts an embedded PostgreSQL.
    database_url: str | None = None
    cluster_radius: float = Field(default=0.04, gt=0)

    host: str = "127.0.0.1"
    port: int = 8004
    workers: int = Field(default=2, ge=1)

    pool_min_size: int = Field(default=2, ge=1)
    pool_max_size: int = Field(default=10, ge=1)
    # How long a request may wait for a pooled connection before it gets a 503.
    pool_timeout: float = Field(default=1.5, gt=0)
    # How long `python -m app.serve` waits for the database to accept connections.
    startup_wait_seconds: float = Field(default=60, gt=0)

    def required_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set")
        return self.database_url


@lru_cache
def get_settings() -> Settings:
    return Settings()
