"""Seed summaries and paired comparisons of two resizers evaluated on the same test images.

Sign convention: a difference is always *candidate minus reference in error*, where a per-image
error is ``1 − score`` (``score``: 1.0 correct, 0.0 wrong; or any higher-is-better score). So for
classification it is the difference in top-1 error, and a negative difference means the
candidate (the learned resizer) makes fewer errors than the reference (a classical one).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

#: most (resample × image) cells held in memory at once by the bootstrap and permutation test
_MAX_CELLS = 1 << 22
#: variance, relative to the mean square, under which a side of a correlation counts as constant
_FLAT = 1e-12


def summarize(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1) over seeds; the deviation is 0 for one seed."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"summarize expects a non-empty 1-D sequence, got shape {values.shape}")
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return float(values.mean()), std


def format_p(p_value: float) -> str:
    """Three significant digits, so a p just under alpha never prints as alpha itself."""
    return f"{p_value:.3g}"


@dataclass(frozen=True)
class PairedDifference:
    """Candidate minus reference in mean error, with its bootstrap interval and paired p-value."""

    difference: float
    ci_low: float
    ci_high: float
    confidence: float
    p_value: float
    alpha: float
    n_seeds: int
    n_images: int
    n_boot: int
    candidate: str = "learned"
    reference: str = "classical"
    #: ``p_value`` adjusted for the other comparisons of its family (Holm); ``None``: not adjusted
    p_adjusted: float | None = None

    @property
    def interval_excludes_zero(self) -> bool:
        return self.ci_high < 0.0 or self.ci_low > 0.0

    @property
    def decisive_p(self) -> float:
        """The p-value verdicts use: the adjusted one where the comparison is one of a family."""
        return self.p_value if self.p_adjusted is None else self.p_adjusted

    @property
    def significant(self) -> bool:
        """Both tests agree: the paired test on these runs (p < alpha, adjusted for the family of
        comparisons when it is one of several) and the interval, which also carries
        training-to-training variation, excludes zero. Either alone is not enough."""
        return self.decisive_p < self.alpha and self.interval_excludes_zero

    @property
    def verdict(self) -> str:
        """E.g. ``"learned better (p=0.003)"``, ``"not significant (p=0.41)"``, or, when the runs differ
        but the seeds disagree, ``"not significant (p=0.02, but the 95% CI includes 0)"``; an
        adjusted p is named so: ``"learned better (Holm p=0.009)"``."""
        p = f"{'p' if self.p_adjusted is None else 'Holm p'}={format_p(self.decisive_p)}"
        if self.decisive_p >= self.alpha:
            return f"not significant ({p})"
        if not self.interval_excludes_zero:
            return f"not significant ({p}, but the {self.confidence:.0%} CI includes 0)"
        return f"{self.outcome} ({p})"

    @property
    def outcome(self) -> str:
        """The verdict without its p-value, for tables that show p in columns of their own:
        ``"learned better"``, ``"not significant"`` or ``"not significant (95% CI includes 0)"``."""
        if self.decisive_p >= self.alpha:
            return "not significant"
        if not self.interval_excludes_zero:
            return f"not significant ({self.confidence:.0%} CI includes 0)"
        return f"{self.candidate if self.difference < 0 else self.reference} better"

    def to_dict(self) -> dict:
        return {**asdict(self), "significant": self.significant, "verdict": self.verdict}


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment: the i-th smallest of m p-values becomes
    ``max over j <= i of min(1, (m - j + 1) * p_(j))`` (1-based ranks), in the input's order.

    It controls the chance of any false "significant" among the m comparisons at the level
    alpha, without assuming them independent (they are not: they share test images and, against
    several classical resizers, the same learned runs), and rejects at least what Bonferroni does.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1 or not np.all((p >= 0.0) & (p <= 1.0)):
        raise ValueError(f"holm_adjust expects p-values in [0, 1], got {list(p_values)}")
    order = np.argsort(p, kind="stable")
    m = p.size
    stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    adjusted = np.empty(m)
    adjusted[order] = stepped
    return adjusted.tolist()


def paired_difference(
    a: np.ndarray,
    b: np.ndarray,
    n_boot: int = 10000,
    seed: int = 0,
    confidence: float = 0.95,
    *,
    alpha: float = 0.05,
    n_permutations: int = 9999,
    candidate: str = "learned",
    reference: str = "classical",
) -> PairedDifference:
    """Compare candidate scores ``a`` with reference scores ``b``, both (seeds, images).

    Runs are paired by row (the same training seed) and by column (the same test image).

    - ``difference``: mean over seeds and images of ``b − a`` = error(a) − error(b).
    - Interval: percentile bootstrap at two levels, because both the test images and the
      training seeds are samples: each resample draws seeds and images with replacement, the
      same indices for both resizers (see ``bootstrap_differences``).
    - p-value: a two-sided paired sign-flip permutation test on the per-image differences
      averaged over seeds (see ``sign_flip_p_value``). Chosen over McNemar on a majority vote
      because it keeps every seed (a vote discards them and ties for even seed counts) and works
      for continuous scores too; with one seed and 0/1 scores it estimates McNemar's exact test.
      It treats the trained runs as fixed (do these runs differ on images like these?); the
      interval's seed level is what carries training-to-training variation.

    Randomness: ``np.random.SeedSequence(seed).spawn(2)`` seeds one generator for the bootstrap
    and one for the permutations, so each result can be re-derived on its own.
    """
    a, b = _check_pair(a, b)
    _check_resampling(n_boot, n_permutations, confidence)
    diff = b - a
    boot_rng, permutation_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    ci_low, ci_high = _percentile_interval(bootstrap_differences(diff, n_boot, boot_rng), confidence)
    return PairedDifference(
        difference=float(diff.mean()),
        ci_low=ci_low,
        ci_high=ci_high,
        confidence=confidence,
        p_value=sign_flip_p_value(diff.mean(axis=0), n_permutations, permutation_rng),
        alpha=alpha,
        n_seeds=diff.shape[0],
        n_images=diff.shape[1],
        n_boot=n_boot,
        candidate=candidate,
        reference=reference,
    )


def bootstrap_differences(diff: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Mean of ``diff`` (seeds, images) over ``n_boot`` two-level resamples.

    Random stream (part of the contract, so results can be re-derived): see ``_two_level_counts``.
    Resample k's value is ``diff[np.ix_(seed_idx[k], image_idx[k])].mean()``, computed here from
    how often each seed and image was drawn instead of gathering the grid.
    """
    n_seeds, n_images = diff.shape
    seed_counts, image_chunks = _two_level_counts(rng, n_boot, n_seeds, n_images)
    per_seed_sums = np.empty((n_boot, n_seeds))
    for start, stop, image_counts in image_chunks:
        per_seed_sums[start:stop] = image_counts @ diff.T
    return np.einsum("ks,ks->k", seed_counts, per_seed_sums) / (n_seeds * n_images)


def _two_level_counts(
    rng: np.random.Generator, n_boot: int, n_seeds: int, n_images: int
) -> tuple[np.ndarray, Iterator[tuple[int, int, np.ndarray]]]:
    """How often each seed and each image is drawn in each of ``n_boot`` resamples.

    Random stream: first all seed indices, ``rng.integers(0, seeds, (n_boot, seeds), dtype=np.int32)``,
    then all image indices, ``rng.integers(0, images, (n_boot, images), dtype=np.int32)``, drawn
    in consecutive row chunks to bound memory. Returns the (n_boot, seeds) seed counts and an
    iterator of ``(start, stop, image counts of resamples start..stop)``.
    """
    seed_counts = _counts(rng.integers(0, n_seeds, (n_boot, n_seeds), dtype=np.int32), n_seeds)

    def image_chunks() -> Iterator[tuple[int, int, np.ndarray]]:
        rows = max(1, _MAX_CELLS // n_images)
        for start in range(0, n_boot, rows):
            stop = min(start + rows, n_boot)
            yield start, stop, _counts(rng.integers(0, n_images, (stop - start, n_images), dtype=np.int32), n_images)

    return seed_counts, image_chunks()


def sign_flip_p_value(per_image: np.ndarray, n_permutations: int, rng: np.random.Generator) -> float:
    """Two-sided Monte Carlo p-value that the per-image differences are symmetric about zero.

    The null distribution of ``sum(s_i * x_i)`` over random signs s_i = ±1 is the one
    ``scipy.stats.permutation_test((x,), ..., permutation_type="samples")`` builds for a single
    sample; it is done here with random bits and one matrix product per chunk, because scipy's
    generic loop over permutations is far slower at ImageNet's 50,000 images. Images whose
    difference is exactly zero are dropped (flipping them changes nothing). p = (1 + #{|T*| >= |T|}) / (1 + n), never 0.
    """
    x = per_image[per_image != 0.0]
    if x.size == 0:
        return 1.0
    # float sums of the same values in another order may differ in the last bits
    observed = abs(x.sum()) * (1.0 - 1e-12)
    extreme = 0
    for flipped in _random_bits(rng, n_permutations, x.size, max(1, _MAX_CELLS // x.size)):
        # sum(s * x) with s = 1 − 2·flipped
        extreme += int(np.count_nonzero(np.abs(x.sum() - 2.0 * (flipped @ x)) >= observed))
    return (extreme + 1) / (n_permutations + 1)


def _random_bits(rng: np.random.Generator, rows: int, width: int, chunk: int) -> Iterator[np.ndarray]:
    """``rows`` random rows of ``width`` fair 0/1 bits (uint8), in chunks of at most ``chunk`` rows:
    one random byte per 8 bits, so a permutation costs width / 8 draws."""
    for start in range(0, rows, chunk):
        count = min(chunk, rows - start)
        bits = rng.integers(0, 256, (count, -(-width // 8)), dtype=np.uint8)
        yield np.unpackbits(bits, axis=1, count=width)


#: how each correlation metric of paired comparisons is computed
CORRELATIONS = {"plcc": "pearson", "srcc": "spearman"}


def correlation_difference(
    a: np.ndarray,
    b: np.ndarray,
    truth: np.ndarray,
    method: str,
    n_boot: int = 10000,
    seed: int = 0,
    confidence: float = 0.95,
    *,
    alpha: float = 0.05,
    n_permutations: int = 9999,
    candidate: str = "learned",
    reference: str = "classical",
) -> PairedDifference:
    """Compare how well candidate predictions ``a`` and reference predictions ``b`` (seeds, images)
    correlate with ``truth`` (images), e.g. predicted and human mean scores (PLCC, SRCC).

    A correlation is not a mean over images, so it gets its own paired statistics:

    - ``difference``: in the error convention of :class:`PairedDifference`, with ``1 − r`` as the
      error: mean over seeds of r(b) − r(a); negative means the candidate correlates better.
    - Interval: the same two-level percentile bootstrap as :func:`paired_difference` (same random
      stream, see ``_two_level_counts``): each resample draws seeds and images with replacement,
      the same for both resizers, and recomputes each correlation on the drawn images (repeated
      draws weigh more; for Spearman they are ties).
    - p-value: a two-sided paired permutation test that swaps the two resizers' predictions of
      random images (the same images for every seed), the test ``scipy.stats.permutation_test``
      runs with ``permutation_type="samples"``.

    ``method`` is ``"pearson"`` or ``"spearman"``; a constant prediction has correlation 0.
    """
    a, b = _check_pair(a, b)
    truth = np.asarray(truth, dtype=np.float64)
    if truth.shape != (a.shape[1],) or not np.isfinite(truth).all():
        raise ValueError(f"truth must hold one finite value per image, shape ({a.shape[1]},), got shape {truth.shape}")
    if method not in CORRELATIONS.values():
        raise ValueError(f"method must be one of {sorted(CORRELATIONS.values())}, got {method!r}")
    _check_resampling(n_boot, n_permutations, confidence)
    rank = method == "spearman"
    boot_rng, permutation_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    # correlations do not change with a shift, and centred values keep the moments' sums exact; one
    # shift per seed for both resizers, so that swapping their predictions still swaps values
    shift = (a.mean(axis=1, keepdims=True) + b.mean(axis=1, keepdims=True)) / 2.0
    a, b, truth = a - shift, b - shift, truth - truth.mean()

    n_seeds, n_images = a.shape
    seed_counts, image_chunks = _two_level_counts(boot_rng, n_boot, n_seeds, n_images)
    per_seed = np.empty((n_boot, n_seeds))
    for start, stop, counts in image_chunks:
        y = _weighted_ranks(truth, counts) if rank else truth
        for s in range(n_seeds):
            xa, xb = (_weighted_ranks(x[s], counts) if rank else x[s] for x in (a, b))
            per_seed[start:stop, s] = _weighted_correlation(xb, y, counts) - _weighted_correlation(xa, y, counts)
    ci_low, ci_high = _percentile_interval(np.einsum("ks,ks->k", seed_counts, per_seed) / n_seeds, confidence)

    ranked_a, ranked_b, y = (
        (stats.rankdata(a, axis=1), stats.rankdata(b, axis=1), stats.rankdata(truth)) if rank else (a, b, truth)
    )
    ones = np.ones((1, n_images))
    observed = float(
        np.mean(
            [
                _weighted_correlation(ranked_b[s], y, ones) - _weighted_correlation(ranked_a[s], y, ones)
                for s in range(n_seeds)
            ]
        )
    )
    return PairedDifference(
        difference=observed,
        ci_low=ci_low,
        ci_high=ci_high,
        confidence=confidence,
        p_value=_swap_p_value(a, b, y, rank, observed, n_permutations, permutation_rng),
        alpha=alpha,
        n_seeds=n_seeds,
        n_images=n_images,
        n_boot=n_boot,
        candidate=candidate,
        reference=reference,
    )


def _swap_p_value(
    a: np.ndarray,
    b: np.ndarray,
    y: np.ndarray,
    rank: bool,
    observed: float,
    n_permutations: int,
    rng: np.random.Generator,
) -> float:
    """Two-sided Monte Carlo p-value of the mean correlation difference under random swaps of
    a[:, i] and b[:, i]; p = (1 + #{|T*| >= |T|}) / (1 + n), never 0. With ``rank``, ``y`` holds
    the true values' ranks, and each swapped row of predictions is ranked."""
    n_seeds, n_images = a.shape
    threshold = abs(observed) * (1.0 - 1e-12)
    extreme = 0
    for bits in _random_bits(rng, n_permutations, n_images, max(1, _MAX_CELLS // (2 * n_images))):
        swapped = bits.astype(bool)
        ones = np.ones(swapped.shape)
        total = np.zeros(swapped.shape[0])
        for s in range(n_seeds):
            xa, xb = (
                _swapped_ranks(a[s], b[s], swapped)
                if rank
                else (np.where(swapped, b[s], a[s]), np.where(swapped, a[s], b[s]))
            )
            total += _weighted_correlation(xb, y, ones) - _weighted_correlation(xa, y, ones)
        extreme += int(np.count_nonzero(np.abs(total / n_seeds) >= threshold))
    return (extreme + 1) / (n_permutations + 1)


def _swapped_ranks(a: np.ndarray, b: np.ndarray, swapped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranks of each row's a' = where(swapped, b, a) and b' = where(swapped, a, b), (rows, n) each.

    Both draw their values from the 2n values of a and b, sorted once: per row, a cumulative
    count of how many values of each group of equal values went to a' (b' has the rest) gives
    every rank, where ranking each row would sort it."""
    n = a.size
    both = np.concatenate([a, b])
    order = np.argsort(both, kind="stable")
    starts, group_of_position = _tie_groups(both[order])
    group_of_value = np.empty(2 * n, dtype=np.intp)
    group_of_value[order] = group_of_position
    sizes = np.diff(np.r_[starts, 2 * n])
    in_a = np.concatenate([~swapped, swapped], axis=1)[:, order].astype(np.int32)
    to_a = np.add.reduceat(in_a, starts, axis=1)
    to_b = sizes - to_a
    before_a = np.cumsum(to_a, axis=1) - to_a
    before_b = np.cumsum(sizes) - sizes - before_a
    ranks_a, ranks_b = before_a + (to_a + 1) / 2.0, before_b + (to_b + 1) / 2.0
    group_a = np.where(swapped, group_of_value[n:], group_of_value[:n])
    group_b = np.where(swapped, group_of_value[:n], group_of_value[n:])
    return np.take_along_axis(ranks_a, group_a, axis=1), np.take_along_axis(ranks_b, group_b, axis=1)


def _tie_groups(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each group of equal values starts in ``sorted_values``, and each position's group."""
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    return starts, np.repeat(np.arange(starts.size), np.diff(np.r_[starts, sorted_values.size]))


def _weighted_correlation(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``x`` and ``y`` ((n,) or (rows, n)) under each row of ``weights``
    (rows, n), e.g. bootstrap counts; 0 where either side is constant. From weighted sums: a
    matrix product for a 1-D side, one pass over (rows, n) for a 2-D one."""

    def weighted_sum(values: np.ndarray) -> np.ndarray:
        return weights @ values if values.ndim == 1 else np.einsum("kn,kn->k", weights, values)

    total = weights.sum(axis=1)
    sum_x, sum_y = weighted_sum(x), weighted_sum(y)
    squares_x, squares_y = weighted_sum(x * x), weighted_sum(y * y)
    var_x, var_y = squares_x - sum_x**2 / total, squares_y - sum_y**2 / total
    covariance = weighted_sum(x * y) - sum_x * sum_y / total
    # a spread of the size of rounding errors is a constant side
    flat = (var_x <= _FLAT * squares_x) | (var_y <= _FLAT * squares_y)
    correlation = np.zeros_like(covariance)
    correlation[~flat] = covariance[~flat] / np.sqrt(var_x[~flat] * var_y[~flat])
    return correlation


def _weighted_ranks(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Average ranks of ``values`` (n,) in each resample that draws image i ``counts[k, i]`` times:
    equal values, a repeated draw included, share the mean of their ranks. (rows, n); images
    not drawn get a rank too, which their zero weight ignores."""
    order = np.argsort(values, kind="stable")
    starts, group_of_position = _tie_groups(values[order])
    group_counts = np.add.reduceat(counts[:, order], starts, axis=1)
    group_ranks = np.cumsum(group_counts, axis=1) - group_counts + (group_counts + 1.0) / 2.0
    ranks = np.empty_like(counts, dtype=np.float64)
    ranks[:, order] = group_ranks[:, group_of_position]
    return ranks


def _check_resampling(n_boot: int, n_permutations: int, confidence: float) -> None:
    if n_boot < 1 or n_permutations < 1:
        raise ValueError(f"n_boot and n_permutations must be positive, got {n_boot} and {n_permutations}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _percentile_interval(resampled: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(resampled, [tail, 1.0 - tail])
    return float(low), float(high)


def _counts(indices: np.ndarray, n: int) -> np.ndarray:
    """How often each of ``n`` indices occurs in each row of ``indices`` (rows, draws)."""
    rows = indices.shape[0]
    offsets = np.arange(rows)[:, None] * n
    return np.bincount((indices + offsets).ravel(), minlength=rows * n).reshape(rows, n).astype(np.float64)


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    if a.ndim != 2 or a.shape != b.shape or a.size == 0:
        raise ValueError(
            f"paired scores must be two non-empty arrays of the same (seeds, images) shape, got {a.shape} and {b.shape}"
        )
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired scores contain NaN or infinite values")
    return a, b
