"""Small faults a new user meets: each a named one-line error (exit 2) or accepted, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from learned_resizer.cli import main
from tests.training.conftest import TINY


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("input_size=[100000,100000]", "input_size: sides of at most 8192 pixels are supported, got [100000, 100000]"),
        ("trainer.devices=0", "trainer.devices: expected a positive count, -1 (all), 'auto' or a list, got 0"),
        (
            "data.options={train_size: 0, val_size: 16, test_size: 16}",
            "data (synthetic): no images in the train split; check data.root and data.options (e.g. train_size)",
        ),
    ],
    ids=["huge-input", "zero-devices", "empty-train"],
)
def test_bad_values_are_one_named_line(override: str, message: str, tmp_path: Path, capsys) -> None:
    assert main(["train", "--out", str(tmp_path / "run"), *TINY, override]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_overrides_may_follow_options(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["train", *TINY[:-1], "--out", str(out), TINY[-1], "trainer.epochs=1"]) == 0
    assert "epochs: 1" in (out / "config.yaml").read_text()


def test_unknown_options_are_still_refused(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--out", "x", "--no-such-option"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err
