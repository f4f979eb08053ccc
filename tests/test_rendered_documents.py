"""The documents quote the kept results: re-rendering them changes nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_results_md_and_the_readme_table_are_rendered_from_the_kept_results() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "render.py"), "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_check_names_a_document_that_is_out_of_step(tmp_path, monkeypatch) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import render
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    stale = tmp_path / "RESULTS.md"
    stale.write_text("typed by hand\n")
    monkeypatch.setattr(render, "RESULTS_MD", stale)
    monkeypatch.setattr(sys, "argv", ["render.py", "--check"])
    assert render.main() == 1
    monkeypatch.setattr(sys, "argv", ["render.py"])
    assert render.main() == 0 and stale.read_text().startswith(render.HEADER)


def test_the_documents_stay_short() -> None:
    """The README is a reference (at most 12 KB), RESULTS.md one section per question (40 KB)."""
    assert (ROOT / "README.md").stat().st_size <= 12 * 1024
    assert (ROOT / "benchmarks" / "RESULTS.md").stat().st_size <= 40 * 1024
