"""Replay the generated cases and the clients' reference cases through the real app."""

import httpx
import pytest

from app.pool import Connection
from tests.db_checks import assert_clusters_match_clicks
from tests.generate_cases import CASES_DIR, generate_cases, render
from tests.replay import CASES, NEW_NAMES, replay


def test_there_are_enough_generated_cases() -> None:
    assert len(list(CASES_DIR.glob("*.json"))) >= 20


def test_generated_cases_are_what_the_generator_makes() -> None:
    for name, case in generate_cases().items():
        assert (CASES_DIR / name).read_text() == render(case), name


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("route_names", [{}, NEW_NAMES], ids=["old-names", "new-names"])
async def test_replay_case(
    client: httpx.AsyncClient, conn: Connection, case: str, route_names: dict[str, str]
) -> None:
    await replay([client], case, route_names)
    await assert_clusters_match_clicks(conn)
