"""Compiled searches (gis.model.search): graph times and path lengths against networkx."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from scipy import sparse

from gis.errors import GisError
from gis.model.search import graph_times, grid_times


def _random_graph(seed: int, n: int = 300, m: int = 1500):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n, m), rng.integers(0, n, m)
    keep = a != b
    a, b = a[keep], b[keep]
    pair, first = np.unique(a * n + b, return_index=True)      # one edge per pair
    a, b = a[first], b[first]
    minutes = rng.uniform(0.1, 5.0, len(a))
    metres = rng.uniform(10.0, 3000.0, len(a))
    t = sparse.csr_array((minutes, (a, b)), shape=(n, n))
    d = sparse.csr_array((metres, (a, b)), shape=(n, n))
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    for u, v, w, x in zip(a, b, minutes, metres, strict=True):
        g.add_edge(int(u), int(v), weight=w, metres=x)
    return t, d, g


@pytest.mark.parametrize("seed", [0, 1])
def test_graph_times_and_lengths_equal_networkx(seed):
    t, d, g = _random_graph(seed)
    sources = np.array([0, 7, 42])
    targets = np.arange(t.shape[0])
    limit = 6.0
    got_t, got_m = graph_times(t, d, sources, targets, limit_min=limit)
    for k, s in enumerate(sources):
        dist, paths = nx.single_source_dijkstra(g, int(s), cutoff=limit)
        ref = np.full(len(targets), np.inf)
        ref_m = np.full(len(targets), np.nan)
        for v, tv in dist.items():
            ref[v] = tv
            p = paths[v]
            ref_m[v] = sum(g.edges[p[i], p[i + 1]]["metres"] for i in range(len(p) - 1))
        assert np.array_equal(np.isfinite(got_t[k]), np.isfinite(ref))
        fin = np.isfinite(ref)
        assert fin.sum() > 5 and (~fin).sum() > 20
        assert np.allclose(got_t[k][fin], ref[fin], rtol=0, atol=1e-9)
        assert np.allclose(got_m[k][fin], ref_m[fin], rtol=1e-12)
        assert np.isnan(got_m[k][~fin]).all()


def test_graph_times_needs_one_pattern():
    t, d, _ = _random_graph(3)
    with pytest.raises(GisError, match="one sparsity pattern"):
        graph_times(t, sparse.csr_array(np.ones(t.shape)), [0], [1])


def test_graph_times_needs_the_same_columns_too():
    """One edge per row in both matrices (the same indptr) but to other nodes: refused."""
    t = sparse.csr_array((np.array([1.0, 2.0]), (np.array([0, 1]), np.array([1, 0]))),
                         shape=(2, 2))
    d = sparse.csr_array((np.array([10.0, 20.0]), (np.array([0, 1]), np.array([0, 1]))),
                         shape=(2, 2))
    assert np.array_equal(t.indptr, d.indptr)
    with pytest.raises(GisError) as err:
        graph_times(t, d, [0], [1])
    assert str(err.value) == ("graph_times: the minutes and metres matrices must share one "
                              "sparsity pattern")


def test_grid_times_by_hand_with_a_source_on_an_impassable_pixel():
    # a row of three 1-minute pixels over a row of impassable ones: from (0, 0), one move
    # to (0, 1) costs 0.5 x (1 + 1) = 1 minute, two moves 2 minutes; the source at (1, 0)
    # reaches nothing (inf minutes, NaN steps)
    cost = np.array([[1.0, 1.0, 1.0], [np.inf, np.inf, np.inf]])
    t, steps = grid_times(cost, np.array([[0, 0], [1, 0]]), np.array([[0, 1], [0, 2]]))
    assert t[0].tolist() == [1.0, 2.0] and steps[0].tolist() == [1.0, 2.0]
    assert np.isinf(t[1]).all() and steps.dtype == np.float64 and np.isnan(steps[1]).all()
    # only impassable sources: nothing reached
    t, steps = grid_times(cost, np.array([[1, 2]]), np.array([[0, 1]]))
    assert np.isinf(t).all() and np.isnan(steps).all()


def test_grid_times_refuses_a_pixel_of_no_cost():
    cost = np.array([[0.0, 1.0], [1.0, 1.0]])
    with pytest.raises(GisError) as err:
        grid_times(cost, np.array([[1, 1]]), np.array([[0, 1]]))
    assert str(err.value) == ("friction surface: a pixel costs 0.0 minutes to cross; every "
                              "passable pixel needs a finite speed above 0")
