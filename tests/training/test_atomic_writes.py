"""Checkpoint writes killed midway leave one temporary per target, reused by the next write and
removed when a run starts or resumes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from learned_resizer.files import remove_stale_temporaries, temporary_path
from learned_resizer.training import train_run
from learned_resizer.training.checkpoint_io import load_checkpoint_file, save_checkpoint_file

#: a child that starts writing a checkpoint and is killed (os._exit) halfway through the write
KILLED_WRITE = """
import os, sys
import torch
import learned_resizer.training.checkpoint_io as io

def half_write(tensors, path, metadata):
    open(path, "wb").write(b"x" * 1000)
    os._exit(9)

io.save_file = half_write
io.save_checkpoint_file({"w": torch.zeros(3)}, sys.argv[1])
"""


def test_killed_writes_leave_one_temporary_per_target_which_the_next_write_reuses(tmp_path: Path) -> None:
    target = tmp_path / "last.ckpt"
    for _ in range(3):
        killed = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(target)], capture_output=True)
        assert killed.returncode == 9, killed.stderr.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".last.ckpt.tmp"]
    save_checkpoint_file({"w": torch.ones(3)}, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]
    assert torch.equal(load_checkpoint_file(target)["w"], torch.ones(3))


def test_a_resumed_run_removes_the_temporaries_killed_writes_left(tiny_config, tmp_path: Path) -> None:
    train_run(tiny_config(), tmp_path)
    stale = [
        temporary_path(tmp_path / "checkpoints" / "last.ckpt"),
        tmp_path / "checkpoints" / ".last.ckpt.k2j4h5.tmp",  # the random names of earlier writers
        temporary_path(tmp_path / "model" / "model.safetensors"),
        temporary_path(tmp_path / "result.json"),
    ]
    for path in stale:
        path.write_bytes(b"\0" * 100)
    train_run(tiny_config("trainer.epochs=2"), tmp_path, resume=True)
    assert not any(path.exists() for path in stale)
    assert not list(tmp_path.rglob("*.tmp"))


def test_remove_stale_temporaries_keeps_everything_else(tmp_path: Path) -> None:
    keep = [tmp_path / "a.tmp", tmp_path / ".hidden", tmp_path / "last.ckpt"]
    for path in [*keep, tmp_path / ".last.ckpt.tmp"]:
        path.write_text("x")
    assert remove_stale_temporaries(tmp_path) == [tmp_path / ".last.ckpt.tmp"]
    assert sorted(tmp_path.iterdir()) == sorted(keep)
