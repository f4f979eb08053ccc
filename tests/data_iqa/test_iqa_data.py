"""IQA data: AVA.txt parsing with its flaws counted, histogram CSVs, the demo set, a few training steps."""

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from learned_resizer.data.distortions import MEAN_SCORES
from learned_resizer.data.iqa import build_ava, build_demo_iqa, build_histogram_csv, read_ava
from learned_resizer.data.registry import DataConfig, build_splits
from learned_resizer.models import create_model
from learned_resizer.tasks.iqa import IQATask, emd_loss, mean_score

SIZE = (16, 20)


def _jpeg(path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(24, 30, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90)


def _ava_line(index: int, image_id: int, votes: list[int]) -> str:
    return " ".join(map(str, [index, image_id, *votes, 21, 0, 1396]))


@pytest.fixture
def ava_root(tmp_path):
    """Ten good lines (ids 100..109), one malformed line, and one line whose image is missing."""
    lines = [_ava_line(i + 1, 100 + i, [0, 1, 2, 5, 20, 30, 15, 5, i, 1]) for i in range(10)]
    lines.insert(3, "4 953 0 1 2 oops")
    lines.append(_ava_line(12, 999, [1] * 10))
    (tmp_path / "AVA.txt").write_text("\n".join(lines) + "\n")
    for i in range(10):
        _jpeg(tmp_path / "images" / f"{100 + i}.jpg", seed=i)
    return tmp_path


def test_read_ava_counts_bad_lines_and_missing_images(ava_root):
    listing = read_ava(ava_root / "AVA.txt", ava_root / "images")
    assert listing.keys == [str(100 + i) for i in range(10)]
    assert len(listing.bad_lines) == 1 and listing.bad_lines[0].startswith("AVA.txt:4: expected 15 fields, got 6")
    assert listing.missing_images == [ava_root / "images" / "999.jpg"]
    votes = torch.tensor([0, 1, 2, 5, 20, 30, 15, 5, 3, 1], dtype=torch.float32)
    torch.testing.assert_close(listing.histograms()[3], votes / votes.sum())


def test_ava_splits_warn_and_keep_the_problems(ava_root, caplog):
    config = DataConfig(name="ava", root=str(ava_root), options={"val_fraction": 0.2, "test_fraction": 0.2})
    with caplog.at_level(logging.WARNING, logger="learned_resizer.data.iqa"):
        splits = build_ava(config, SIZE)
    assert "1 line(s) not parsed" in caplog.text and "1 listed image(s) missing" in caplog.text
    assert "999.jpg" in caplog.text and "AVA.txt:4" in caplog.text
    assert (len(splits.train), len(splits.val), len(splits.test)) == (6, 2, 2)
    assert splits.classes == [str(k) for k in range(1, 11)]
    assert len(splits.test.listing.bad_lines) == 1 and len(splits.test.listing.missing_images) == 1
    image, target = splits.train[0]
    assert image.shape == (3, *SIZE) and image.dtype == torch.uint8
    assert target.shape == (10,) and target.dtype == torch.float32 and target.sum().item() == pytest.approx(1.0)
    again = build_ava(config, SIZE)
    assert [path for path, _ in again.test.images.samples] == [path for path, _ in splits.test.images.samples]


def test_ava_split_files(ava_root, caplog):
    (ava_root / "train.txt").write_text("\n".join(str(100 + i) for i in range(7)) + "\n999\n")
    (ava_root / "test.txt").write_text("107\n108\n109\n")
    config = DataConfig(
        name="ava",
        root=str(ava_root),
        options={"split_files": {"train": "train.txt", "test": "test.txt"}, "val_fraction": 0.3},
    )
    with caplog.at_level(logging.WARNING, logger="learned_resizer.data.iqa"):
        splits = build_ava(config, SIZE)
    assert "train.txt: 1 of 8 id(s) left out" in caplog.text
    assert (len(splits.train), len(splits.val), len(splits.test)) == (5, 2, 3)
    test_ids = {path.stem for path, _ in splits.test.images.samples}
    assert test_ids == {"107", "108", "109"}

    (ava_root / "test.txt").write_text("100\n")
    with pytest.raises(ValueError, match="split_files.*both train and test"):
        build_ava(config, SIZE)


def test_ava_unknown_option_is_refused(ava_root):
    with pytest.raises(ValueError, match="unknown option"):
        build_ava(DataConfig(name="ava", root=str(ava_root), options={"val_fraktion": 0.2}), SIZE)


@pytest.mark.parametrize("probabilities", [False, True])
def test_histogram_csv_counts_or_probabilities(tmp_path, probabilities, caplog):
    rows = []
    for i in range(8):
        _jpeg(tmp_path / "pics" / f"{i}.jpg", seed=i)
        counts = np.array([1, i, 3, 8 - i, 2], dtype=float)
        values = counts / counts.sum() if probabilities else counts
        rows.append(",".join([f"pics/{i}.jpg", *map(str, values)]))
    rows += ["pics/gone.jpg,1,1,1,1,1", "pics/0.jpg,1,x,1,1,1"]
    (tmp_path / "scores.csv").write_text("file,c1,c2,c3,c4,c5\n" + "\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING, logger="learned_resizer.data.iqa"):
        splits = build_histogram_csv(
            DataConfig(name="histogram_csv", root=str(tmp_path), options={"val_fraction": 0.25, "test_fraction": 0.25}),
            SIZE,
        )
    assert "scores.csv:11" in caplog.text and "gone.jpg" in caplog.text
    assert splits.classes == ["1", "2", "3", "4", "5"]
    assert len(splits.train) + len(splits.val) + len(splits.test) == 8
    assert splits.train.listing.bad_lines == ["scores.csv:11: scores must be numbers, got ['1', 'x', '1', '1', '1']"]
    for dataset in (splits.train, splits.val, splits.test):
        for (path, _), (image, target) in zip(dataset.images.samples, dataset):
            i = int(path.stem)
            expected = torch.tensor([1, i, 3, 8 - i, 2], dtype=torch.float32) / 14
            torch.testing.assert_close(target, expected)
            assert image.shape == (3, *SIZE)


def test_histogram_csv_per_split_files_and_bad_header(tmp_path):
    for split, names in (("train", range(0, 6)), ("test", range(6, 8))):
        for i in names:
            _jpeg(tmp_path / f"{i}.jpg", seed=i)
        (tmp_path / f"{split}.csv").write_text("file,c1,c2,c3\n" + "".join(f"{i}.jpg,1,2,{i}\n" for i in names))
    config = DataConfig(
        name="histogram_csv",
        root=str(tmp_path),
        options={"splits": {"train": "train.csv", "test": "test.csv"}, "val_fraction": 0.34},
    )
    splits = build_histogram_csv(config, SIZE)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (4, 2, 2)
    (tmp_path / "test.csv").write_text("path,c1,c2,c3\n6.jpg,1,2,3\n")
    with pytest.raises(ValueError, match=r"test.csv: header must be file,c1,c2,...,cK"):
        build_histogram_csv(config, SIZE)


@pytest.fixture(scope="module")
def demo():
    return build_demo_iqa(DataConfig(name="demo_iqa"), (32, 32))


def test_demo_iqa_items_and_targets(demo):
    assert demo.classes == [str(k) for k in range(1, 11)]
    assert 100 <= len(demo.train) + len(demo.val) + len(demo.test) <= 300
    for dataset in (demo.train, demo.val, demo.test):
        image, target = dataset[len(dataset) - 1]
        assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
        assert target.shape == (10,) and target.dtype == torch.float32
        assert target.sum().item() == pytest.approx(1.0, abs=1e-6)
    contents = [{item.content for _, item in d.items} for d in (demo.train, demo.val, demo.test)]
    assert not (contents[0] & contents[1] or contents[0] & contents[2] or contents[1] & contents[2])


def test_demo_iqa_mean_score_falls_with_level_and_is_deterministic(demo):
    by_level: dict[int, set[float]] = {}
    for index, (_, item) in enumerate(demo.train.items):
        if item.content == demo.train.items[0][1].content:
            by_level.setdefault(item.level, set()).add(round(mean_score(demo.train[index][1][None]).item(), 4))
    means = [by_level[level].pop() for level in range(5)]
    assert means == sorted(means, reverse=True) and means[0] == pytest.approx(MEAN_SCORES[0], abs=0.05)
    again = build_splits(DataConfig(name="demo_iqa"), (32, 32))
    noisy = next(i for i, (_, item) in enumerate(demo.train.items) if item.kind == "noise")
    assert torch.equal(demo.train[noisy][0], again.train[noisy][0])


def test_training_on_demo_iqa_lowers_the_emd(demo):
    images, targets = map(torch.stack, zip(*(demo.train[i] for i in range(len(demo.train)))))
    model, task = create_model("small_cnn", 10), IQATask()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)

    def evaluate() -> float:
        model.eval()
        with torch.no_grad():
            return emd_loss(model(images).softmax(1), targets).item()

    before = evaluate()
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        model.train()
        batch = torch.randint(0, len(images), (32,), generator=generator)
        loss = task.loss(model(images[batch]), targets[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert evaluate() < 0.8 * before  # 0.25 -> 0.19 here
