"""Settings that would silently weaken the service are refused at start."""

import os
import subprocess
import sys

import pytest
from pydantic import SecretStr, ValidationError

from app.settings import Settings
from harness.servers import ROOT


@pytest.mark.parametrize("token", ["", " ", "\t\n"])
def test_a_blank_api_token_is_refused(token: str) -> None:
    with pytest.raises(ValidationError, match="API_TOKEN is set but blank"):
        Settings(api_token=SecretStr(token))


@pytest.mark.parametrize("seconds", [0.0009, 0.0001, 0, 2_147_484])  # PostgreSQL's int ms
def test_a_statement_timeout_that_postgresql_cannot_take_is_refused(
    seconds: float,
) -> None:
    with pytest.raises(ValidationError, match="statement_timeout_seconds"):
        Settings(statement_timeout_seconds=seconds)


def test_the_service_refuses_to_start_with_a_blank_token(database_url: str) -> None:
    started = subprocess.run(
        [sys.executable, "-m", "app.serve"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url, "API_TOKEN": "  ", "PORT": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode != 0
    assert "API_TOKEN is set but blank" in started.stderr


@pytest.mark.parametrize(
    ("setting", "value"),
    [("header_timeout_seconds", 0), ("keep_alive_seconds", 0), ("limit_concurrency", 1)],
)
def test_connection_bounds_that_would_refuse_every_request_are_refused(
    setting: str, value: int
) -> None:
    with pytest.raises(ValidationError, match=setting):
        Settings.model_validate({setting: value})


@pytest.mark.parametrize("hours", [0, 1e10, float("inf")])
def test_an_idempotency_ttl_that_prune_could_not_count_back_is_refused(hours: float) -> None:
    with pytest.raises(ValidationError, match="idempotency_ttl_hours"):
        Settings(idempotency_ttl_hours=hours)
