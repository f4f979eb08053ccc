"""/v1/segment: a mask of the upload's own size, as a PNG of class ids or pixel counts per class."""

from __future__ import annotations

import io
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from learned_resizer.data.transforms import fit_to_size, to_float_image, unfit_logits
from learned_resizer.deploy.server import create_app
from learned_resizer.pretrained import build_pipeline, save_pretrained

from .conftest import CONFIG, TOKEN, encode, randomise_batchnorm, start_server
from .test_webpage import CHROMIUM

SEGMENTER = replace(
    CONFIG, task="segmentation", model="small_segnet", num_outputs=3, classes=("sky", "tree", "road"), fit="letterbox"
)


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory):
    torch.manual_seed(0)
    pipeline = build_pipeline(SEGMENTER)
    randomise_batchnorm(pipeline)
    folder = tmp_path_factory.mktemp("segmenter")
    save_pretrained(pipeline, SEGMENTER, folder)
    return folder, pipeline.eval()


def test_segment_returns_a_png_mask_of_the_uploads_size(segmenter):
    folder, pipeline = segmenter
    client = TestClient(create_app(folder, backend="eager"))
    upload = encode((90, 40))  # (width, height): letterboxed into 64x64
    answer = client.post("/v1/segment", files={"file": ("wide.png", upload)})
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    mask = np.asarray(Image.open(io.BytesIO(answer.content)))
    assert mask.shape == (40, 90) and mask.dtype == np.uint8 and mask.max() < 3
    # the same prediction made here from the pipeline: fit, run (logits at the input size), un-fit
    pixels = torch.from_numpy(np.asarray(Image.open(io.BytesIO(upload)).convert("RGB")).transpose(2, 0, 1).copy())
    with torch.no_grad():
        logits = pipeline(to_float_image(fit_to_size(pixels, (64, 64), "letterbox"))[None])
    expected = unfit_logits(logits, (40, 90), "letterbox").argmax(dim=1)[0].numpy()
    assert (mask == expected).mean() > 0.99  # the fast path agrees to rounding
    counts = client.post("/v1/segment?format=json", files={"file": ("wide.png", upload)}).json()
    assert counts["size"] == [40, 90]
    assert [c["label"] for c in counts["classes"]] == ["sky", "tree", "road"]
    assert [c["pixels"] for c in counts["classes"]] == np.bincount(mask.ravel(), minlength=3).tolist()


def test_segment_on_a_classifier_and_bad_uploads_are_refused(segmenter, checkpoint):
    classifier = TestClient(create_app(checkpoint, backend="eager"))
    answer = classifier.post("/v1/segment", files={"file": ("a.png", encode((20, 20)))})
    assert answer.status_code == 409 and "not segmentation" in answer.json()["detail"]
    client = TestClient(create_app(segmenter[0], backend="eager"))
    answer = client.post("/v1/segment", files={"file": ("x.png", b"hello")})
    assert answer.status_code == 415 and "x.png" in answer.json()["detail"]


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_of_a_segmentation_pipeline_gives_logits_at_the_images_size(segmenter, fmt, tmp_path):
    from learned_resizer.deploy.export import export_checkpoint

    report = export_checkpoint(segmenter[0], fmt, True, tmp_path / f"seg.{fmt}")
    # checked (shape and values) against the eager pipeline, whose logits are at the input's size
    assert report.check_shape[2:] != (64, 64) and report.max_abs_diff < 1e-4
    assert report.path.is_file()


@pytest.mark.slow
def test_page_overlays_the_mask_at_the_images_size(segmenter, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    image = tmp_path / "scene.png"
    image.write_bytes(encode((90, 40), seed=3))
    with start_server(segmenter[0], tmp_path) as server, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            page.goto(server.url + "/")
            page.wait_for_selector("body.segmentation", timeout=30_000)
            page.fill("#token", TOKEN)
            page.set_input_files("#file", str(image))
            page.wait_for_selector('body[data-state="done"]', timeout=30_000)
            size = page.eval_on_selector("#overlay", "c => [c.width, c.height]")
            assert size == [90, 40]
            rows = page.eval_on_selector_all("#class-pixels tr", "rows => rows.map(r => r.cells[2].textContent)")
            assert sum(int(text.split()[0]) for text in rows) == 90 * 40
        finally:
            browser.close()
