"""Generate the replay cases in tests/cases from ground truth: `python -m tests.generate_cases`.

Each page gets Gaussian blobs of clicks; the clicks of all pages are interleaved at random, and
a blob's expected cluster idx is the order in which it first appears on its page. Only streams
in which every label is unambiguous for the service's rule are kept: every saved click lies
within JOIN of its own blob's current centroid (the running mean of the blob's clicks saved so
far) and beyond APART of every other; every predicted point is within JOIN of the nearest
current centroid or beyond APART of all. The labels never come from the code under test.

The `generated_best_cluster_*` cases also ask, now and then and at the end, for a page's best
cluster (`get_best_cluster_api`, by GET or POST): the label with the most saved clicks so far
(ties: the lower idx) with all of its clicks in the order saved; and once for a page before its
first click, which is 404.
"""

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CASES_DIR = Path(__file__).parent / "cases"
SEED = 20261129
N_CASES = 20
SIGMA = 0.008
CLICKS_PER_BLOB = (10, 11)
BLOBS_PER_PAGE = (1, 20)
PAGES_PER_CASE = (1, 4)
MIN_BLOB_GAP = 0.087
JOIN = 0.035
APART = 0.045
PREDICT_SHARE = 0.2
PREDICT_IN_BLOB_SHARE = 0.3
BEST_CLUSTER_SEED = 20261201
N_BEST_CLUSTER_CASES = 5
BEST_CLUSTER_SHARE = 0.05  # of saves followed by a question for the page's best cluster

Step = dict[str, Any]


@dataclass
class Blob:
    sum_x: float = 0.0
    sum_y: float = 0.0
    size: int = 0
    idx: int = -1

    def distance(self, x: float, y: float) -> float:
        return math.hypot(x - self.sum_x / self.size, y - self.sum_y / self.size)


def blob_centers(rng: random.Random, count: int) -> list[tuple[float, float]]:
    centers: list[tuple[float, float]] = []
    while len(centers) < count:
        candidate = (rng.uniform(0.05, 0.95), rng.uniform(0.05, 0.95))
        if all(math.dist(candidate, other) >= MIN_BLOB_GAP for other in centers):
            centers.append(candidate)
    return centers


def near(rng: random.Random, center: tuple[float, float]) -> tuple[float, float]:
    return (
        min(1.0, max(0.0, rng.gauss(center[0], SIGMA))),
        min(1.0, max(0.0, rng.gauss(center[1], SIGMA))),
    )


def step(page_id: str, x: float, y: float, req_name: str, response: dict[str, Any]) -> Step:
    return {
        "page_id": page_id,
        "body": {"coordinates": {"x": x, "y": y}},
        "req_name": req_name,
        "method": "POST",
        "response_code": 200,
        "response_data": response,
    }


def predict_label(blobs: dict[int, Blob], x: float, y: float) -> int | str | None:
    """The expected idx, None for no cluster, or "ambiguous"."""
    seen = [blob for blob in blobs.values() if blob.size]
    if not seen:
        return None
    nearest = min(seen, key=lambda blob: blob.distance(x, y))
    distance = nearest.distance(x, y)
    if distance < JOIN:
        return nearest.idx
    return None if distance > APART else "ambiguous"


def try_case(rng: random.Random) -> list[Step] | None:
    """One interleaved stream of saves and predicts, or None if a label would be ambiguous."""
    pages = {
        str(page): blob_centers(rng, rng.randint(*BLOBS_PER_PAGE))
        for page in range(1, rng.randint(*PAGES_PER_CASE) + 1)
    }
    clicks = [
        (page, blob, *near(rng, center))
        for page, centers in pages.items()
        for blob, center in enumerate(centers)
        for _ in range(rng.randint(*CLICKS_PER_BLOB))
    ]
    rng.shuffle(clicks)
    state = {
        page: {blob: Blob() for blob in range(len(centers))} for page, centers in pages.items()
    }
    opened = dict.fromkeys(pages, 0)
    steps = []
    for page, blob_id, x, y in clicks:
        while rng.random() < PREDICT_SHARE:  # so predicts are PREDICT_SHARE of all steps
            predict_page = rng.choice(list(pages))
            for _ in range(100):
                if rng.random() < PREDICT_IN_BLOB_SHARE:
                    px, py = near(rng, rng.choice(pages[predict_page]))
                else:
                    px, py = rng.random(), rng.random()
                label = predict_label(state[predict_page], px, py)
                if label != "ambiguous":
                    steps.append(
                        step(predict_page, px, py, "predict_click", {"cluster_idx": label})
                    )
                    break
        blobs = state[page]
        own = blobs[blob_id]
        others = [blob for key, blob in blobs.items() if key != blob_id and blob.size]
        if any(other.distance(x, y) <= APART for other in others):
            return None
        if own.size and own.distance(x, y) >= JOIN:
            return None
        is_new = own.size == 0
        if is_new:
            own.idx = opened[page]
            opened[page] += 1
        own.sum_x, own.sum_y, own.size = own.sum_x + x, own.sum_y + y, own.size + 1
        steps.append(step(page, x, y, "new_click", {"cluster_idx": own.idx, "is_new": is_new}))
    return steps


def best_cluster_step(
    rng: random.Random, page_id: str, clusters: dict[int, list[dict[str, float]]]
) -> Step:
    response: dict[str, Any] = {"detail": "page not found"}
    code = 404
    if clusters:
        best = max(clusters, key=lambda idx: (len(clusters[idx]), -idx))
        coordinates = list(clusters[best])  # as it is now: the cluster grows later
        code, response = 200, {"cluster": {"cluster_idx": best, "all_coordinates": coordinates}}
    return {
        "page_id": page_id,
        "body": {},
        "req_name": "get_best_cluster_api",
        "method": rng.choice(["GET", "POST"]),
        "response_code": code,
        "response_data": response,
    }


def with_best_cluster_steps(rng: random.Random, steps: list[Step]) -> list[Step]:
    """`steps` with questions for a page's best cluster: one before any click, some after a
    save, and one per page at the end."""
    pages: dict[str, dict[int, list[dict[str, float]]]] = {
        page: {} for page in sorted({saved["page_id"] for saved in steps})
    }
    asked = [best_cluster_step(rng, rng.choice(list(pages)), {})]
    for saved in steps:
        asked.append(saved)
        if saved["req_name"] == "new_click":
            page = pages[saved["page_id"]]
            page.setdefault(saved["response_data"]["cluster_idx"], []).append(
                saved["body"]["coordinates"]
            )
            if rng.random() < BEST_CLUSTER_SHARE:
                asked.append(best_cluster_step(rng, saved["page_id"], page))
    return asked + [best_cluster_step(rng, page_id, page) for page_id, page in pages.items()]


def unambiguous_case(rng: random.Random) -> list[Step]:
    while (steps := try_case(rng)) is None:
        pass
    return steps


def generate_cases() -> dict[str, dict[str, list[Step]]]:
    rng = random.Random(SEED)
    cases = {
        f"generated_{number:02d}.json": {"sequence": unambiguous_case(rng)}
        for number in range(N_CASES)
    }
    rng = random.Random(BEST_CLUSTER_SEED)
    for number in range(N_BEST_CLUSTER_CASES):
        steps = with_best_cluster_steps(rng, unambiguous_case(rng))
        cases[f"generated_best_cluster_{number:02d}.json"] = {"sequence": steps}
    return cases


def render(case: dict[str, list[Step]]) -> str:
    return json.dumps(case, indent=1) + "\n"


def main() -> None:
    CASES_DIR.mkdir(exist_ok=True)
    for name, case in generate_cases().items():
        (CASES_DIR / name).write_text(render(case))


if __name__ == "__main__":
    main()
