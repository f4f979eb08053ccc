"""Statistics of the comparison, checked against computations written independently here."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from learned_resizer.compare import PairedDifference, paired_difference, summarize
from learned_resizer.compare import statistics as compare_statistics


def binary_scores(accuracy: float, shape: tuple[int, int], seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) < accuracy).astype(np.float64)


def loop_bootstrap_interval(
    a: np.ndarray, b: np.ndarray, n_boot: int, seed: int, confidence: float
) -> tuple[float, float]:
    """The two-level bootstrap written as a plain loop over resamples, on the documented stream."""
    diff = b - a
    n_seeds, n_images = diff.shape
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[0])
    seed_idx = rng.integers(0, n_seeds, (n_boot, n_seeds), dtype=np.int32)
    image_idx = rng.integers(0, n_images, (n_boot, n_images), dtype=np.int32)
    means = np.empty(n_boot)
    for k in range(n_boot):
        total = 0.0
        for s in seed_idx[k]:
            for i in image_idx[k]:
                total += diff[s, i]
        means[k] = total / (n_seeds * n_images)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def test_summarize_uses_sample_std_and_zero_for_one_seed() -> None:
    assert summarize([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1.0))
    assert summarize([0.25]) == (0.25, 0.0)
    with pytest.raises(ValueError, match="non-empty"):
        summarize([])


@pytest.mark.parametrize("max_cells", [1 << 22, 50])  # 50 forces many small chunks of resamples
def test_interval_matches_plain_loop_bootstrap(monkeypatch: pytest.MonkeyPatch, max_cells: int) -> None:
    monkeypatch.setattr(compare_statistics, "_MAX_CELLS", max_cells)
    rng = np.random.default_rng(7)
    a, b = rng.random((3, 40)), rng.random((3, 40)) + 0.1
    result = paired_difference(a, b, n_boot=300, seed=11, confidence=0.9)
    expected = loop_bootstrap_interval(a, b, n_boot=300, seed=11, confidence=0.9)
    assert (result.ci_low, result.ci_high) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert result.difference == pytest.approx(np.mean(b - a))


def test_interval_with_one_seed_matches_normal_approximation() -> None:
    """A different formulation: with one seed, the bootstrap spread of a mean is about sd / sqrt(n)."""
    a, b = binary_scores(0.7, (1, 2000), 1), binary_scores(0.6, (1, 2000), 2)
    result = paired_difference(a, b, n_boot=4000)
    diff = (b - a)[0]
    half_width = stats.norm.ppf(0.975) * diff.std() / np.sqrt(diff.size)
    assert result.ci_high - result.ci_low == pytest.approx(2 * half_width, rel=0.1)
    assert (result.ci_low + result.ci_high) / 2 == pytest.approx(diff.mean(), abs=0.2 * half_width)


def test_p_value_with_one_seed_is_exact_mcnemar() -> None:
    a, b = binary_scores(0.6, (1, 300), 3), binary_scores(0.55, (1, 300), 4)
    learned_only, classical_only = int(np.sum(a > b)), int(np.sum(b > a))
    mcnemar = stats.binomtest(learned_only, learned_only + classical_only, 0.5).pvalue
    assert 0.01 < mcnemar < 0.9  # a case where a wrong p-value would show
    result = paired_difference(a, b, n_boot=100, n_permutations=40000)
    assert result.p_value == pytest.approx(mcnemar, abs=0.015)


def test_p_value_matches_scipy_permutation_test_over_seeds() -> None:
    rng = np.random.default_rng(5)
    a = rng.normal(0.0, 1.0, (3, 80))
    b = a + rng.normal(0.08, 0.8, (3, 80))
    per_image = (b - a).mean(axis=0)
    reference = stats.permutation_test(
        (per_image,),
        lambda x, axis: np.mean(x, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=40000,
        rng=np.random.default_rng(0),
    ).pvalue
    assert 0.01 < reference < 0.9
    result = paired_difference(a, b, n_boot=100, n_permutations=40000)
    assert result.p_value == pytest.approx(reference, abs=0.015)


def test_identical_resizers_are_not_significant() -> None:
    a = binary_scores(0.6, (3, 300), 0)
    result = paired_difference(a, a.copy())
    assert result.difference == 0.0
    assert result.ci_low <= 0.0 <= result.ci_high
    assert result.p_value == 1.0
    assert result.verdict == "not significant (p=1)"


@pytest.mark.parametrize("learned_first", [True, False])
def test_clearly_better_resizer_is_significant_with_the_right_sign(learned_first: bool) -> None:
    good, bad = binary_scores(0.9, (3, 300), 1), binary_scores(0.5, (3, 300), 2)
    a, b = (good, bad) if learned_first else (bad, good)
    result = paired_difference(a, b)
    expected = (1 - a.mean()) - (1 - b.mean())  # difference in error, learned minus classical
    assert result.difference == pytest.approx(expected)
    assert abs(result.difference) > 0.3
    assert result.significant and result.p_value < 0.001
    assert result.ci_high < 0 if learned_first else result.ci_low > 0
    winner = "learned" if learned_first else "classical"
    assert result.verdict == f"{winner} better (p={result.p_value:.3g})"


@pytest.mark.parametrize(
    ("difference", "ci", "p_value", "verdict"),
    [
        (-0.02, (-0.04, -0.01), 0.003, "learned better (p=0.003)"),
        (0.02, (0.01, 0.03), 0.0123, "bilinear better (p=0.0123)"),
        (-0.01, (-0.05, 0.03), 0.41, "not significant (p=0.41)"),
        # the paired test alone is not enough when the seeds disagree
        (-0.02, (-0.05, 0.01), 0.003, "not significant (p=0.003, but the 95% CI includes 0)"),
    ],
)
def test_verdict_names_the_winner(difference: float, ci: tuple[float, float], p_value: float, verdict: str) -> None:
    result = PairedDifference(difference, *ci, 0.95, p_value, 0.05, 3, 300, 1000, reference="bilinear")
    assert result.verdict == verdict
    assert result.significant == ("better" in verdict)


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\(2, 10\) and \(3, 10\)"):
        paired_difference(np.zeros((2, 10)), np.zeros((3, 10)))
