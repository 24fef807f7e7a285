"""Compiled searches (gis.model.search): graph times and path lengths against networkx."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from scipy import sparse

from gis.errors import GisError
from gis.model.search import graph_times


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
