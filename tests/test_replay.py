"""Replay request sequences in the clients' reference format through the real app."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import random_prefix
from tests.db_checks import Connection, assert_clusters_match_clicks
from tests.generate_cases import CASES_DIR, generate_cases, render

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference-cases"
CASES = {
    path.name: json.loads(path.read_text())["sequence"]
    for path in sorted(CASES_DIR.glob("*.json")) + sorted(REFERENCE_DIR.glob("*.json"))
}
NEW_NAMES = {"new_click": "save_click_and_predict_cluster", "predict_click": "predict_cluster"}


def exact(body: Any) -> str:
    """Canonical JSON, so that 1 and true, or 0 and false, do not compare equal."""
    return json.dumps(body, sort_keys=True)


async def replay(client: httpx.AsyncClient, case: str, route_names: dict[str, str]) -> None:
    prefix = random_prefix()
    for number, step in enumerate(CASES[case]):
        url = "/" + route_names.get(step["req_name"], step["req_name"])
        params = {"page_uuid": f"{prefix}/{step['page_id']}", **step["body"]}
        if step["method"] == "GET":
            response = await client.get(url, params=params)
        else:
            response = await client.post(url, json=params)
        where = f"{case} step {number}: {step['method']} {url}"
        assert response.status_code == step["response_code"], where
        if step["response_code"] == 200:
            assert exact(response.json()) == exact(step["response_data"]), where


def test_there_are_enough_generated_cases() -> None:
    assert len(list(CASES_DIR.glob("*.json"))) >= 20


def test_generated_cases_are_what_the_generator_makes() -> None:
    for name, case in generate_cases().items():
        assert (CASES_DIR / name).read_text() == render(case), name


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("route_names", [{}, NEW_NAMES], ids=["old-names", "new-names"])
async def test_replay_case(
    client: httpx.AsyncClient, db: Connection, case: str, route_names: dict[str, str]
) -> None:
    await replay(client, case, route_names)
    await assert_clusters_match_clicks(db)
