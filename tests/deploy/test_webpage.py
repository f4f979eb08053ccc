"""The web page in headless Chromium: upload an image, see three images, their difference and predictions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import TOKEN, LiveServer, encode

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.slow
def test_page_shows_resized_images_and_predictions(live_server: LiveServer, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    image = tmp_path / "photo.jpg"
    image.write_bytes(encode((120, 90), "JPEG", seed=5))
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            page.goto(live_server.url + "/")
            page.fill("#token", "wrong")
            page.set_input_files("#file", str(image))
            page.wait_for_selector('body[data-state="error"]', timeout=30_000)
            assert "401" in page.inner_text("#status")

            page.fill("#token", TOKEN)
            page.set_input_files("#file", str(image))
            page.wait_for_selector('body[data-state="done"]', timeout=30_000)
            for key in ("original", "bilinear", "learned", "difference"):
                loaded = page.eval_on_selector(f"#img-{key}", "img => img.complete && img.naturalWidth")
                assert loaded == (64 if key == "original" else 32), key
            for table in ("#pred-bilinear", "#pred-learned"):
                rows = page.eval_on_selector_all(f"{table} tr", "rows => rows.map(r => r.innerText)")
                assert len(rows) == 3 and all("%" in row for row in rows)
            assert "photo.jpg: decoded at 120x90 px, resized to 32x32" in page.inner_text("#status")
        finally:
            browser.close()
