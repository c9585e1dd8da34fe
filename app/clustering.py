"""The clustering rule, as pure functions: no I/O, no state.

A page's clusters are summarised by the count and the coordinate sums of their clicks, so a
cluster's centroid is the running mean of the clicks saved into it. A click joins the cluster
with the nearest centroid when it lies within `radius` of it (ties go to the lower idx);
otherwise it opens a new cluster whose idx is the page's current number of clusters.

`python -m app.rebuild --replay` runs these functions; saves and predictions run the same rule in
SQL, in `save_click()` and `db.PREDICT_CLUSTER` (why: docs/design.md), and
tests/test_rule_in_sql.py holds them to the same answers, bit for bit.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Assignment:
    cluster_idx: int
    is_new: bool


def centroids(sums: FloatArray, sizes: FloatArray) -> FloatArray:
    """Centroids (k, 2) of clusters given their coordinate sums (k, 2) and sizes (k,)."""
    return sums / sizes[:, np.newaxis]


def nearest_cluster(centroids: FloatArray, point: tuple[float, float], radius: float) -> int | None:
    """The idx of the nearest centroid within `radius` of `point`, or None."""
    if len(centroids) == 0:
        return None
    distances = np.linalg.norm(centroids - np.asarray(point), axis=1)
    idx = int(np.argmin(distances))  # argmin takes the first of equal minima: the lower idx
    return idx if distances[idx] <= radius else None


def assign(centroids: FloatArray, point: tuple[float, float], radius: float) -> Assignment:
    """Where a saved click goes: the nearest cluster within `radius`, else a new one."""
    idx = nearest_cluster(centroids, point, radius)
    if idx is None:
        return Assignment(cluster_idx=len(centroids), is_new=True)
    return Assignment(cluster_idx=idx, is_new=False)


def replay(points: Sequence[tuple[float, float]], radius: float) -> list[int]:
    """The cluster idx the rule gives each click when the clicks are saved in this order."""
    sums = np.empty((0, 2))
    sizes = np.empty(0)
    ids = []
    for point in points:
        assignment = assign(centroids(sums, sizes), point, radius)
        if assignment.is_new:
            sums = np.vstack([sums, point])
            sizes = np.append(sizes, 1.0)
        else:
            sums[assignment.cluster_idx] += point
            sizes[assignment.cluster_idx] += 1
        ids.append(assignment.cluster_idx)
    return ids
