"""Ctrl-C during ``train`` and ``compare``: exit 130 with one line saying what was kept and how to
continue (Lightning alone would exit 1 without a word), and the resumed run goes on from there."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from learned_resizer.cli import main
from learned_resizer.training.module import ResizerTrainingModule
from tests.compare.test_runner import TINY as TINY_COMPARISON
from tests.training.conftest import TINY


@pytest.fixture
def ctrl_c_in_second_epoch(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The first training step of epoch 2 raises KeyboardInterrupt, as a Ctrl-C there would."""
    step = ResizerTrainingModule.training_step

    def interrupted(self, batch, batch_idx):
        if self.current_epoch == 1:
            raise KeyboardInterrupt
        return step(self, batch, batch_idx)

    monkeypatch.setattr(ResizerTrainingModule, "training_step", interrupted)
    yield
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C works again


def test_ctrl_c_during_train_says_what_was_kept(ctrl_c_in_second_epoch, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *TINY]) == 130
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        f"learned-resizer train: interrupted ({out}: training stopped; 1 finished epoch(s) kept in "
        f"{out / 'checkpoints' / 'last.ckpt'}; to continue, run the same command with --resume)"
    )


def test_ctrl_c_during_compare_says_how_to_continue(ctrl_c_in_second_epoch, tmp_path: Path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**TINY_COMPARISON, "seeds": [0], "panels": 0}))
    assert main(["compare", "--config", str(config), "--out", str(tmp_path / "cmp")]) == 130
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("learned-resizer compare: interrupted (") and "1 finished epoch(s) kept in" in err
    assert err.endswith("finished runs are kept: run the same command again to continue, this run resuming)")
