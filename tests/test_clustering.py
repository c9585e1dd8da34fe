"""The clustering rule, without a database."""

import numpy as np
import pytest

from app.clustering import Assignment, assign, centroids, nearest_cluster

RADIUS = 0.04


def test_centroid_is_the_mean_of_the_clicks() -> None:
    sums = np.array([[0.3, 0.6], [0.9, 0.9]])
    sizes = np.array([3.0, 1.0])
    np.testing.assert_allclose(centroids(sums, sizes), [[0.1, 0.2], [0.9, 0.9]])


def test_first_click_of_a_page_opens_cluster_zero() -> None:
    assert assign(np.empty((0, 2)), (0.5, 0.5), RADIUS) == Assignment(0, is_new=True)


def test_click_within_radius_joins_the_nearest_cluster() -> None:
    existing = np.array([[0.5, 0.5], [0.53, 0.5]])
    assert assign(existing, (0.52, 0.5), RADIUS) == Assignment(1, is_new=False)


def test_click_beyond_radius_opens_the_next_cluster() -> None:
    existing = np.array([[0.1, 0.1], [0.5, 0.5]])
    assert assign(existing, (0.5, 0.541), RADIUS) == Assignment(2, is_new=True)


def test_distance_equal_to_radius_joins() -> None:
    assert nearest_cluster(np.array([[0.5, 0.25]]), (0.5, 0.25 + 0.0625), 0.0625) == 0


def test_equal_distances_go_to_the_lower_idx() -> None:
    existing = np.array([[0.6, 0.5], [0.4, 0.5]])
    assert nearest_cluster(existing, (0.5, 0.5), 0.2) == 0


@pytest.mark.parametrize("point", [(0.0, 0.0), (1.0, 1.0), (0.5, 0.9)])
def test_predict_on_a_page_without_clusters_is_none(point: tuple[float, float]) -> None:
    assert nearest_cluster(np.empty((0, 2)), point, RADIUS) is None
