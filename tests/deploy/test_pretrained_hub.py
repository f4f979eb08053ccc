"""``from_pretrained`` on a ``namespace/name`` that is not a local folder: the Hugging Face Hub
fallback, tested offline with ``snapshot_download`` replaced."""

from __future__ import annotations

from pathlib import Path

import huggingface_hub
import pytest
import torch
from huggingface_hub.errors import LocalEntryNotFoundError

from learned_resizer.cli import main
from learned_resizer.pretrained import CONFIG_NAME, WEIGHTS_NAME, from_pretrained


def test_hub_id_is_fetched_and_loaded(checkpoint: Path, monkeypatch, tmp_path: Path) -> None:
    calls = []

    def fake_download(repo_id: str, allow_patterns: list[str]) -> str:
        calls.append((repo_id, sorted(allow_patterns)))
        return str(checkpoint)

    monkeypatch.chdir(tmp_path)  # so that "someone/tiny-resizer" is not a local folder
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    pipeline, config = from_pretrained("someone/tiny-resizer")
    local, _ = from_pretrained(checkpoint)
    assert calls == [("someone/tiny-resizer", sorted([CONFIG_NAME, WEIGHTS_NAME]))]
    images = torch.rand(2, 3, *config.input_size)
    assert torch.equal(pipeline(images), local(images))


def test_missing_local_folder_read_as_hub_id_names_both_readings(monkeypatch, tmp_path: Path, capsys) -> None:
    def offline(repo_id: str, allow_patterns: list[str]) -> str:
        raise LocalEntryNotFoundError(
            "An error happened while trying to locate the files on the Hub.\nCheck your connection."
        )

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(
        FileNotFoundError,
        match=r"no saved pipeline at runs/typo: no such local folder, and fetching it as a "
        r"Hugging Face Hub id failed \(An error happened .* on the Hub\.\)$",
    ):
        from_pretrained("runs/typo")
    assert main(["evaluate", "runs/typo"]) == 2
    error = capsys.readouterr().err
    assert "no such local folder" in error and "Traceback" not in error and "Check your connection" not in error


def test_local_paths_never_reach_the_hub(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(huggingface_hub, "snapshot_download", pytest.fail)
    for path in (tmp_path / "nowhere", "./runs/typo", "a/b/c"):
        with pytest.raises(FileNotFoundError, match="no saved pipeline at"):
            from_pretrained(path)
