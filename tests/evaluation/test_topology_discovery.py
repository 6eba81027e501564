"""Topology discovery picks, from codes alone, points for a clustered factor, a segment for a spread one
and a loop for an angle drawn as a ring — and not a loop for an angle laid out on a line."""
import numpy as np

from pyrodisent.evaluation.topology_discovery import candidate_scores, discover_topologies


def synthetic_codes(seed=0, n=3000):
    rng = np.random.default_rng(seed)
    shape, scale, angle = rng.integers(0, 3, n), rng.uniform(0.6, 1, n), rng.uniform(0, 2 * np.pi, n)
    codes = np.column_stack([shape * 2.0 + rng.normal(0, 0.2, n), (scale - 0.8) * 8 + rng.normal(0, 0.1, n),
                             3 * np.cos(angle) + rng.normal(0, 0.2, n), 3 * np.sin(angle) + rng.normal(0, 0.2, n),
                             rng.normal(size=n), rng.normal(size=n)])
    return np.column_stack([shape, scale, angle]), codes


def test_each_factor_gets_the_topology_its_codes_draw():
    for seed in (0, 1):
        factors, codes = synthetic_codes(seed)
        found = discover_topologies(factors, codes, ["shape", "scale", "angle"], periods=[None, None, 2 * np.pi],
                                    seed=seed)
        assert found["chosen"].tolist() == ["points(3)", "segment", "loop"], found
        assert found["dims"].tolist()[2] in ("2,3", "3,2")


def test_an_angle_cut_open_on_a_line_is_no_loop():
    rng = np.random.default_rng(2)
    angle = rng.uniform(0, 2 * np.pi, 3000)
    line = np.column_stack([angle + rng.normal(0, 0.05, 3000), rng.normal(size=3000)])
    scores = candidate_scores(line)
    assert max(scores, key=scores.get) == "segment" and scores["loop"] < scores["segment"] - 0.2
