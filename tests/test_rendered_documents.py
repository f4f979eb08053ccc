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


def load_render():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import render
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return render


def test_the_check_names_a_document_that_is_out_of_step(tmp_path, monkeypatch) -> None:
    render = load_render()
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


def test_a_resumed_study_reports_its_training_time_not_the_last_wall_clock() -> None:
    machine = {"cpu": "X", "cpu_cores": 2, "torch": "2", "date": "2026-12-06 04:53 UTC", "commit": "abc"}
    whole = {**machine, "wall_seconds": 600.0, "train_seconds": 540.0, "runs": 15, "runs_resumed": 0}
    resumed = {**whole, "wall_seconds": 300.0, "train_seconds": 6660.0, "runs_resumed": 14}
    line = load_render().environment_line
    assert line({"environment": whole}).endswith("commit abc; wall time 10 min.")
    assert line({"environment": resumed}).endswith(
        "commit abc; resumed (14 of 15 runs done or begun earlier), training time 111 min."
    )


def test_side_studies_show_their_verdict_and_headline_studies_their_tables() -> None:
    render = load_render()
    for section in render.load_index():
        for study in section["studies"]:
            text = render.study_section(study)
            assert all(sentence in text for sentence in study["table"].verdicts)
            assert ("#### Resizers" in text) == bool(study.get("headline")), study["name"]
            assert (f"learned-resizer pool benchmarks/results/{study['name']}" in text) != bool(study.get("headline"))
