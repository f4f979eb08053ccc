"""The written report: its files, its numbers, and the HTML as a browser sees it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from learned_resizer.compare import Panel, Report, build_table, write_report

CHROMIUM = Path("/usr/bin/chromium")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def written(make_records, tmp_path_factory: pytest.TempPathFactory) -> Report:
    records = make_records({"bilinear": 0.55, "learned": 0.8}, seeds=(0, 1), epochs=4, with_panels=True)
    out = tmp_path_factory.mktemp("report")
    return write_report(records, out, "Fake comparison", table=build_table(records, n_boot=1000))


def test_every_file_is_written(written: Report) -> None:
    names = {"report.md", "report.html", "results.json", "training_curves.png", "error_vs_compute.png", "panels.png"}
    assert set(written.files) == names
    for name, path in written.files.items():
        assert path.name == name and path.stat().st_size > 0
        if name.endswith(".png"):
            assert path.read_bytes().startswith(PNG_MAGIC)


def test_results_json_holds_every_printed_number(written: Report, check_printed_numbers) -> None:
    results = json.loads(written.files["results.json"].read_text())
    check_printed_numbers(written.table.to_text(), results)
    assert results["figures"] == ["training_curves.png", "error_vs_compute.png", "panels.png"]
    assert len(results["runs"]) == 4 and len(results["runs"][0]["history"]) == 4
    comparison = results["table"]["comparisons"][0]
    assert comparison["verdict"] == written.table.comparisons[0].result.verdict


def test_markdown_shows_the_table_and_links_existing_figures(written: Report) -> None:
    markdown = written.files["report.md"].read_text()
    assert written.table.to_markdown() in markdown
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert links == ["training_curves.png", "error_vs_compute.png", "panels.png"]
    assert all((written.files["report.md"].parent / link).is_file() for link in links)


def test_html_is_self_contained(written: Report) -> None:
    page = written.files["report.html"].read_text()
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 3 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<script" not in page and "url(" not in page
    assert re.findall(r'(?:src|href)="(?!data:)([^"]*)"', page) == []
    assert "learned better" in page


def test_sweep_with_several_output_sizes_and_missing_values_as_null(make_records, tmp_path: Path) -> None:
    records = make_records({"bilinear": 0.55, "learned": 0.8}, seeds=(0,), sizes=((32, 32), (48, 48)), epochs=2)
    records[0].history[1]["val_top1_error"] = float("nan")  # e.g. an epoch without validation
    report = write_report(records, tmp_path, table=build_table(records, n_boot=200))
    assert "resolution_sweep.png" in report.files
    assert "panels.png" not in report.files  # no run carried panels
    results = json.loads(report.files["results.json"].read_text())
    assert results["runs"][0]["history"][1]["val_top1_error"] is None


def test_panels_check_shapes_and_ranges() -> None:
    image = np.full((8, 8, 3), 0.5)
    Panel("ok", image, image, image * 4 - 1)  # the learned output may leave [0, 1]
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        Panel("gray", image[..., 0], image, image)
    with pytest.raises(ValueError, match="original: expected values in"):
        Panel("bright", image * 3, image, image)
    with pytest.raises(ValueError, match="same shape"):
        Panel("sizes", image, image, np.zeros((4, 4, 3)))


def test_html_opens_in_headless_chromium(written: Report) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(written.files["report.html"].resolve().as_uri(), wait_until="load")
            widths = page.eval_on_selector_all("img", "images => images.map(i => i.complete ? i.naturalWidth : 0)")
            title = page.title()
        finally:
            browser.close()
    assert title == "Fake comparison"
    assert len(widths) == 3 and all(width > 0 for width in widths)
    assert errors == []
