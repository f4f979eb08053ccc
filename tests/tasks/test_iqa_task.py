"""IQA task: EMD against independent references, PLCC/SRCC against SciPy, metric accumulation."""

from fractions import Fraction

import numpy as np
import pytest
import torch
from scipy import stats

from learned_resizer.tasks import Task
from learned_resizer.tasks.iqa import (
    IQATask,
    as_probabilities,
    average_ranks,
    emd_loss,
    human_mean_score,
    mean_score,
    pearson,
    spearman,
)

K = 10


def _histograms(n: int, k: int = K, seed: int = 0) -> torch.Tensor:
    counts = torch.from_numpy(np.random.default_rng(seed).integers(0, 50, size=(n, k))).double() + 1
    return counts / counts.sum(dim=1, keepdim=True)


def _brute_force_emd(p: np.ndarray, q: np.ndarray, d: float) -> float:
    """The paper's formula term by term, in float64 Python loops."""
    k = len(p)
    total, cdf_p, cdf_q = 0.0, 0.0, 0.0
    for i in range(k):
        cdf_p += float(p[i])
        cdf_q += float(q[i])
        total += abs(cdf_p - cdf_q) ** d
    return (total / k) ** (1.0 / d)


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("k", [2, 5, 10])
def test_emd_matches_brute_force(d, k):
    p, q = _histograms(6, k, seed=1), _histograms(6, k, seed=2)
    expected = [_brute_force_emd(a, b, d) for a, b in zip(p.numpy(), q.numpy())]
    got = emd_loss(p, q, exponent=d, reduction="none")
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-15)
    assert emd_loss(p, q, exponent=d).item() == pytest.approx(np.mean(expected), rel=1e-12)


def test_emd_d1_is_wasserstein_on_scores_over_k():
    """For d = 1, Σ_k |ΔCDF(k)| with unit spacing is W1 on scores 1..K; the formula divides by K."""
    p, q = _histograms(5, seed=3), _histograms(5, seed=4)
    scores = np.arange(1, K + 1)
    for a, b, got in zip(p.numpy(), q.numpy(), emd_loss(p, q, exponent=1, reduction="none")):
        assert got.item() == pytest.approx(stats.wasserstein_distance(scores, scores, a, b) / K, rel=1e-10)


def test_emd_zero_for_identical_and_symmetric():
    p, q = _histograms(4, seed=5), _histograms(4, seed=6)
    assert torch.equal(emd_loss(p, p, reduction="none"), torch.zeros(4, dtype=p.dtype))
    torch.testing.assert_close(emd_loss(p, q, reduction="none"), emd_loss(q, p, reduction="none"))
    assert (emd_loss(p, q, reduction="none") > 0).all()


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("target", ["one_hot", "uniform"])
@pytest.mark.parametrize("logits", ["random", "matching_one_hot"])
def test_loss_gradients_are_finite(d, target, logits):
    targets = torch.zeros(3, K)
    if target == "one_hot":
        targets[torch.arange(3), torch.tensor([0, 4, 9])] = 1.0
    else:
        targets += 1.0 / K
    if logits == "random":
        outputs = torch.randn(3, K, requires_grad=True)
    else:  # softmax saturates to exactly one-hot in float32, so EMD to a one-hot target is 0
        outputs = (200.0 * torch.nn.functional.one_hot(torch.tensor([0, 4, 9]), K).float()).requires_grad_()
    loss = IQATask(emd_exponent=d).loss(outputs, targets)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(outputs.grad).all()
    if target == "one_hot" and logits == "matching_one_hot":
        assert loss.item() == 0.0  # the root's argument is exactly 0 here


@pytest.mark.parametrize("d", [2, 3])  # d = 1 has |x|'s kink at the last CDF gap, always ~0
def test_emd_gradcheck(d):
    p = _histograms(3, seed=9).requires_grad_()
    q = _histograms(3, seed=10)
    assert torch.autograd.gradcheck(lambda a: emd_loss(a, q, exponent=d, reduction="none"), (p,))


def test_counts_are_normalised():
    task = IQATask()
    outputs, counts = torch.randn(4, K), torch.randint(1, 30, (4, K)).float()
    torch.testing.assert_close(task.loss(outputs, counts), task.loss(outputs, counts / counts.sum(1, keepdim=True)))


def test_mean_score_and_per_example_scores():
    task = IQATask()
    assert isinstance(task, Task) and task.num_outputs == K and (task.monitor, task.monitor_mode) == ("plcc", "max")
    one_hot_7 = torch.nn.functional.one_hot(torch.tensor([6]), K).float()
    assert mean_score(one_hot_7).item() == 7.0
    outputs = torch.full((1, K), -100.0)
    outputs[0, 3] = 100.0  # predicts 4 for a human score of 7
    assert task.per_example_scores(outputs, one_hot_7 * 120).item() == pytest.approx(-3.0)


@pytest.mark.parametrize("bad", [torch.rand(3, 9), torch.rand(3), -torch.rand(3, K), torch.zeros(3, K)])
def test_bad_targets_are_refused(bad):
    with pytest.raises(ValueError, match="targets"):
        as_probabilities(bad, K)


def test_correlations_match_scipy_on_random_data():
    rng = np.random.default_rng(7)
    x = rng.normal(size=200)
    y = 0.6 * x + rng.normal(size=200)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    assert pearson(tx, ty).item() == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-12)
    assert spearman(tx, ty).item() == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)


def test_correlations_with_ties_match_scipy():
    rng = np.random.default_rng(8)
    x = rng.integers(0, 5, size=60).astype(np.float32)
    y = (x + rng.integers(0, 3, size=60)).astype(np.float32)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    np.testing.assert_array_equal(average_ranks(tx).numpy(), stats.rankdata(x))
    assert spearman(tx, ty).item() == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)
    assert pearson(tx, ty).item() == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-6)


@pytest.mark.parametrize("correlation", [pearson, spearman])
def test_constant_sample_gives_zero(correlation):
    varying = torch.linspace(1, 10, 8)
    constant = torch.full((8,), 0.1, dtype=torch.float64)  # 0.1 has no exact binary mean
    assert correlation(constant, varying).item() == 0.0
    assert correlation(varying, constant).item() == 0.0
    assert correlation(varying[:1], varying[:1]).item() == 0.0


def test_metric_collection_accumulates_like_one_update():
    task = IQATask()
    outputs, targets = torch.randn(30, K), torch.randint(0, 40, (30, K)).float() + 1
    split = task.metrics()
    for chunk in range(3):
        split.update(outputs[10 * chunk : 10 * (chunk + 1)], targets[10 * chunk : 10 * (chunk + 1)])
    whole = task.metrics()
    whole.update(outputs, targets)
    split_values, whole_values = split.compute(), whole.compute()
    assert set(whole_values) == {"plcc", "srcc", "emd", "binary_accuracy"}
    for name, value in whole_values.items():
        assert torch.isfinite(value), name
        assert split_values[name].item() == pytest.approx(value.item(), abs=1e-6), name  # float32 softmax
    predicted = mean_score(outputs.softmax(1))
    human = mean_score(targets / targets.sum(1, keepdim=True))
    assert whole_values["plcc"].item() == pytest.approx(stats.pearsonr(predicted, human)[0], abs=1e-5)
    assert whole_values["emd"].item() == pytest.approx(task.loss(outputs, targets).item(), abs=1e-6)
    agree = ((predicted > 5) == (human > 5)).float().mean()
    assert whole_values["binary_accuracy"].item() == pytest.approx(agree.item())


def test_metrics_finite_for_constant_predictions():
    metrics = IQATask().metrics()
    metrics.update(torch.zeros(8, K), torch.randint(1, 20, (8, K)).float())
    values = metrics.compute()
    assert values["plcc"].item() == 0.0 and values["srcc"].item() == 0.0
    assert all(torch.isfinite(v) for v in values.values())


def test_human_mean_scores_of_equal_means_are_equal():
    """Equal means (as fractions) give equal float64 values, so SRCC sees ties where there are ties;
    the float32 probabilities of as_probabilities break some of them."""
    generator = torch.Generator().manual_seed(0)
    counts = torch.randint(0, 6, (3000, K), generator=generator)
    counts[counts.sum(dim=1) == 0, 0] = 1
    exact = [Fraction(int((row * torch.arange(1, K + 1)).sum()), int(row.sum())) for row in counts]
    ours = human_mean_score(counts, K)
    assert ours.dtype == torch.float64
    assert [float(f) for f in exact] == ours.tolist()  # one correctly rounded division each
    float32_path = mean_score(as_probabilities(counts, K))
    broken = {f for f in exact if len({float32_path[i].item() for i, g in enumerate(exact) if g == f}) > 1}
    assert broken  # the old path split ties; the check above would catch it
    middle = torch.zeros(1, K)
    middle[0, [3, 5]] = 7.0  # votes on 4 and 6: a mean of exactly 5, not above AVA's threshold
    assert human_mean_score(middle, K).item() == 5.0
