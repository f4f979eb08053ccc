"""keep_freed_memory: a freed large block is reused without page faults (glibc), a no-op elsewhere."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from learned_resizer.training import memory, run
from learned_resizer.training.memory import keep_freed_memory

# Allocates, touches and frees a 64 MiB tensor again and again, as training steps do, then prints
# the minor page faults of touching the last one: 16,384 pages if each freed block went back to
# the OS, ~0 if reused (glibc's heap grows for the first few blocks, then settles).
FAULTS_OF_LAST_BLOCK = """
import resource, sys, torch
from learned_resizer.training.memory import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
for _ in range(9):
    torch.ones(16 * 2**20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
torch.ones(16 * 2**20)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

on_glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")


def faults_of_last_block(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", FAULTS_OF_LAST_BLOCK, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip().splitlines()[-1])


@on_glibc
def test_a_freed_block_is_reused_without_page_faults():
    pages = 64 * 2**20 // 4096
    assert faults_of_last_block("default") > pages // 2  # the control: glibc unmapped every block
    assert faults_of_last_block("keep") < pages // 100


def test_other_c_libraries_are_left_alone(monkeypatch):
    monkeypatch.setattr(memory.platform, "libc_ver", lambda: ("musl", ""))
    assert keep_freed_memory() is False


@pytest.mark.parametrize("enabled", [True, False])
def test_training_applies_the_setting_unless_turned_off(tiny_config, tmp_path, monkeypatch, enabled):
    calls = []
    monkeypatch.setattr(run, "keep_freed_memory", lambda: calls.append(True))
    run.train_run(tiny_config("trainer.epochs=1", f"trainer.keep_freed_memory={str(enabled).lower()}"), tmp_path)
    assert calls == ([True] if enabled else [])
