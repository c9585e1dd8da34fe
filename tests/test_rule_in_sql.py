"""Saves decide in SQL (the save_click function); they must decide as app.clustering does.

The clicks here sit where the arithmetic decides: within an ulp or so of the radius from a
centroid, where a different order of operations, hypot() or `<` for `<=` would flip some answers;
exactly tied between two centroids; and where results underflow to zero.
"""

import itertools
import math
import random

import httpx
import numpy as np

from app.clustering import centroids, nearest_cluster, replay
from app.settings import get_settings
from tests.helpers import click, random_prefix

GRID = [0.1 + 0.1 * i for i in range(8)]  # anchors 0.1 apart: more than twice the radius
# Two clusters 1/16 apart, above the anchors, and a click exactly 1/32 from both (all dyadic).
TIES = [(x, y) for x in (5 / 32, 27 / 32) for y in (29 / 32, 31 / 32, 30 / 32)]
# Where a centroid (5e-324 / 3) and a square (1e-170 ** 2) round to zero: PostgreSQL's float8
# arithmetic calls that an underflow error, IEEE's (numpy's) gives zero.
UNDERFLOWS = [(0.95, 5e-324), (0.95, 0.0), (0.95, 0.0), (0.95, 1e-170), (0.95, 0.0)]


def edge_clicks(rng: random.Random, radius: float) -> tuple[list[tuple[float, float]], int]:
    """Clicks probing the radius's edge around anchors, then exact ties; and the probe count."""
    clicks = []
    probes = 0
    for anchor in itertools.product(GRID, GRID):
        clicks.append(anchor)  # opens a cluster whose centroid is exactly the anchor
        sums, size = np.array(anchor), 1.0
        while size < 4:  # sizes 3 and up: centroids that sum / size rounds
            centroid = centroids(sums[np.newaxis], np.array([size]))
            angle = rng.uniform(0, 2 * math.pi)
            probe = (
                centroid[0, 0] + radius * math.cos(angle),
                centroid[0, 1] + radius * math.sin(angle),
            )
            clicks.append(probe)
            probes += 1
            if nearest_cluster(centroid, probe, radius) is None:
                break
            sums, size = sums + probe, size + 1  # it joined: probe around the moved centroid
    return clicks + TIES + UNDERFLOWS, probes


async def test_saves_and_predictions_decide_as_the_python_rule_to_the_last_bit(
    client: httpx.AsyncClient,
) -> None:
    radius = get_settings().cluster_radius
    clicks, probes = edge_clicks(random.Random(20261130), radius)
    expected = replay(clicks, radius)
    page = random_prefix()
    opened: set[int] = set()
    for (x, y), cluster_idx in zip(clicks, expected, strict=True):
        body = click(page, x, y)
        is_new = cluster_idx not in opened
        predicted = (await client.post("/predict_cluster", json=body)).json()
        assert predicted == {"cluster_idx": None if is_new else cluster_idx}, (x, y)
        answer = (await client.post("/save_click_and_predict_cluster", json=body)).json()
        assert answer == {"cluster_idx": cluster_idx, "is_new": is_new}, (x, y)
        opened.add(cluster_idx)
    # The probes really sat on the edge: some joined, some opened a cluster of their own.
    opened_by_probes = len(opened) - len(GRID) ** 2 - 5  # the tied pairs and the underflows
    assert 0.2 * probes < opened_by_probes < 0.8 * probes
