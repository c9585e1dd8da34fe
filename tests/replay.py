"""Replay request sequences in the clients' reference format (shared/reference-cases/README.md)."""

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from tests.generate_cases import CASES_DIR
from tests.helpers import random_prefix

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference-cases"
GENERATED = {path.name: path for path in sorted(CASES_DIR.glob("*.json"))}
CASES = GENERATED | {path.name: path for path in sorted(REFERENCE_DIR.glob("*.json"))}
SEQUENCES = {name: json.loads(path.read_text())["sequence"] for name, path in CASES.items()}
NEW_NAMES = {
    "new_click": "save_click_and_predict_cluster",
    "predict_click": "predict_cluster",
    "get_best_cluster_api": "get_best_cluster",
}


def exact(body: Any) -> str:
    """Canonical JSON, so that 1 and true, or 0 and false, do not compare equal."""
    return json.dumps(body, sort_keys=True)


async def replay(
    clients: Sequence[httpx.AsyncClient], case: str, route_names: dict[str, str]
) -> None:
    """Send every step of a case, each to one of `clients` at random, and check each answer."""
    prefix = random_prefix()
    pick = random.Random(case)
    for number, step in enumerate(SEQUENCES[case]):
        client = pick.choice(clients)
        url = "/" + route_names.get(step["req_name"], step["req_name"])
        params = {"page_uuid": f"{prefix}/{step['page_id']}", **step["body"]}
        if step["method"] == "GET":
            response = await client.get(url, params=params)
        else:
            response = await client.post(url, json=params)
        where = f"{case} step {number}: {step['method']} {client.base_url}{url}"
        assert response.status_code == step["response_code"], where
        if step["response_code"] == 200:
            assert exact(response.json()) == exact(step["response_data"]), where
