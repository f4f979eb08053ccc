"""Paired statistics of correlations (PLCC, SRCC), checked against scipy on explicit resamples."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from learned_resizer.compare import statistics as compare_statistics
from learned_resizer.compare.statistics import correlation_difference

SCIPY = {"pearson": lambda x, y: stats.pearsonr(x, y)[0], "spearman": lambda x, y: stats.spearmanr(x, y)[0]}


def predictions(
    noise: tuple[float, float], seeds: int, images: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truth, and two resizers' predictions of it with the given noise levels (rounded: ties)."""
    rng = np.random.default_rng(seed)
    truth = np.round(rng.normal(5.0, 1.0, images), 1)
    a, b = (np.round(truth + rng.normal(0.0, level, (seeds, images)), 1) for level in noise)
    return a, b, truth


def loop_bootstrap_interval(a, b, truth, method: str, n_boot: int, seed: int, confidence: float) -> tuple[float, float]:
    """Each resample gathered and correlated by scipy, on the documented random stream."""
    n_seeds, n_images = a.shape
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[0])
    seed_idx = rng.integers(0, n_seeds, (n_boot, n_seeds), dtype=np.int32)
    image_idx = rng.integers(0, n_images, (n_boot, n_images), dtype=np.int32)
    correlate = SCIPY[method]
    values = [
        np.mean(
            [
                correlate(b[s, image_idx[k]], truth[image_idx[k]]) - correlate(a[s, image_idx[k]], truth[image_idx[k]])
                for s in seed_idx[k]
            ]
        )
        for k in range(n_boot)
    ]
    tail = (1 - confidence) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


@pytest.mark.parametrize("method", ["pearson", "spearman"])
@pytest.mark.parametrize("max_cells", [1 << 22, 50])  # 50 forces many small chunks of resamples
def test_interval_and_difference_match_scipy_on_explicit_resamples(monkeypatch, method: str, max_cells: int) -> None:
    monkeypatch.setattr(compare_statistics, "_MAX_CELLS", max_cells)
    a, b, truth = predictions((0.6, 1.0), seeds=2, images=25, seed=3)
    result = correlation_difference(a, b, truth, method, n_boot=150, seed=4, confidence=0.9, n_permutations=10)
    expected = loop_bootstrap_interval(a, b, truth, method, n_boot=150, seed=4, confidence=0.9)
    assert (result.ci_low, result.ci_high) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    correlate = SCIPY[method]
    observed = np.mean([correlate(b[s], truth) - correlate(a[s], truth) for s in range(2)])
    assert result.difference == pytest.approx(observed, rel=1e-9)


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_p_value_matches_scipy_paired_permutation_test(method: str) -> None:
    a, b, truth = predictions((0.5, 0.9), seeds=1, images=11, seed=8)
    correlate = SCIPY[method]
    # scipy enumerates all 2**11 swaps of the pairs (a_i, b_i) exactly
    reference = stats.permutation_test(
        (a[0], b[0]),
        lambda x, y: correlate(y, truth) - correlate(x, truth),
        permutation_type="samples",
        n_resamples=np.inf,
    ).pvalue
    assert 0.02 < reference < 0.95
    result = correlation_difference(a, b, truth, method, n_boot=10, n_permutations=40000)
    assert result.p_value == pytest.approx(reference, abs=0.01)


def test_identical_predictions_differ_by_nothing() -> None:
    a, _, truth = predictions((0.5, 0.5), seeds=3, images=60, seed=1)
    result = correlation_difference(a, a.copy(), truth, "pearson", n_boot=200, n_permutations=200)
    assert result.difference == 0.0 and result.ci_low == 0.0 and result.ci_high == 0.0
    assert result.p_value == 1.0 and result.verdict.startswith("not significant")


@pytest.mark.parametrize("candidate_first", [True, False])
def test_clearly_better_correlation_wins_with_the_right_sign(candidate_first: bool) -> None:
    good, bad, truth = predictions((0.2, 2.0), seeds=3, images=300, seed=2)
    a, b = (good, bad) if candidate_first else (bad, good)
    result = correlation_difference(
        a, b, truth, "spearman", n_boot=500, n_permutations=999, candidate="learned", reference="bilinear"
    )
    assert result.significant
    assert (result.difference < 0) == candidate_first
    assert result.verdict.startswith("learned better" if candidate_first else "bilinear better")


def test_constant_prediction_has_correlation_zero_not_nan() -> None:
    a, _, truth = predictions((0.3, 0.3), seeds=2, images=40, seed=5)
    constant = np.full_like(a, 5.0)
    result = correlation_difference(a, constant, truth, "pearson", n_boot=100, n_permutations=100)
    expected = -np.mean([stats.pearsonr(a[s], truth)[0] for s in range(2)])  # r(constant) = 0
    assert result.difference == pytest.approx(expected, rel=1e-9)
    assert np.isfinite([result.ci_low, result.ci_high, result.p_value]).all()


def test_bad_input_is_refused_by_name() -> None:
    a, b, truth = predictions((0.3, 0.3), seeds=2, images=10, seed=0)
    with pytest.raises(ValueError, match=r"truth must hold one finite value per image, shape \(10,\)"):
        correlation_difference(a, b, truth[:9], "pearson")
    with pytest.raises(ValueError, match="method must be one of"):
        correlation_difference(a, b, truth, "kendall")
    with pytest.raises(ValueError, match="same"):
        correlation_difference(a, b[:, :9], truth, "pearson")


def test_swapped_ranks_equal_ranking_each_swapped_row() -> None:
    rng = np.random.default_rng(9)
    a, b = np.round(rng.normal(size=50), 1), np.round(rng.normal(size=50), 1)  # ties within and across
    swapped = rng.random((20, 50)) < 0.5
    ranks_a, ranks_b = compare_statistics._swapped_ranks(a, b, swapped)
    np.testing.assert_array_equal(ranks_a, stats.rankdata(np.where(swapped, b, a), axis=1))
    np.testing.assert_array_equal(ranks_b, stats.rankdata(np.where(swapped, a, b), axis=1))
