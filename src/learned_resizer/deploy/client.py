"""Client for ``serve``: send an image as it is, or resize it here first and send the small array.

Resizing here runs either an exported resizer (``learned-resizer export``, ONNX through
onnxruntime; no torch code runs) or a checkpoint folder (torch). Either way the image is first
fitted to the checkpoint's input size, as the server and training do, and the result is sent as a
``.npy`` array in pixel scale with ``resized=true`` (see :mod:`learned_resizer.deploy.server`).
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import numpy as np
from PIL import Image

from learned_resizer.data.images import load_channels, load_rgb
from learned_resizer.deploy.export import INPUT_NAME, METADATA_KEY
from learned_resizer.pipeline_config import PipelineConfig


class LocalResizer(Protocol):
    name: str
    input_size: tuple[int, int]
    channels: int

    def __call__(self, image: Image.Image | np.ndarray) -> np.ndarray:
        """8-bit RGB image (or pixels (C, H, W) for C other than 3) → resized float32 (C, h, w) in pixel scale."""


class OnnxResizer:
    """An ONNX file written by ``learned-resizer export`` (the resizer alone)."""

    name = "onnx"

    def __init__(self, path: Path) -> None:
        from learned_resizer.deploy.fast import onnx_session

        self.session = onnx_session(str(path))
        metadata = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if metadata is None:
            raise ValueError(f"{path}: no {METADATA_KEY!r} metadata; write the file with 'learned-resizer export'")
        info = json.loads(metadata)
        if info.get("kind") != "resizer":
            raise ValueError(f"{path}: exported with --with-model; resizing on the client needs the resizer alone")
        config = PipelineConfig.from_dict(info.get("config"), f"{path}: {METADATA_KEY} metadata")
        self.input_size, self.channels = config.input_size, config.channels
        if self.channels != 3:
            raise ValueError(
                f"{path}: resizing here with ONNX takes RGB images; for {self.channels} channels "
                "pass the checkpoint folder"
            )

    def __call__(self, image: Image.Image) -> np.ndarray:
        return self.session.run(None, {INPUT_NAME: fit_array(image, self.input_size)[None]})[0][0]


class CheckpointResizer:
    """A checkpoint folder (config.json + model.safetensors), run with torch."""

    name = "checkpoint"

    def __init__(self, path: Path) -> None:
        from learned_resizer.deploy.predict import Predictor

        self.predictor = Predictor.load(path)
        self.input_size = self.predictor.input_size
        self.channels = self.predictor.channels

    def __call__(self, image: Image.Image | np.ndarray) -> np.ndarray:
        import torch
        from torchvision.transforms.v2 import functional as F

        pixels = torch.from_numpy(image) if isinstance(image, np.ndarray) else F.pil_to_tensor(image)
        return self.predictor.resize(self.predictor.fit_pixels(pixels)[None])[0].numpy()


def load_local_resizer(path: str | Path) -> LocalResizer:
    """An ``.onnx`` file or a checkpoint folder."""
    path = Path(path)
    if path.is_dir():
        return CheckpointResizer(path)
    if path.is_file() and path.suffix == ".onnx":
        return OnnxResizer(path)
    raise FileNotFoundError(f"{path}: expected an exported resizer (.onnx) or a checkpoint folder")


def fit_array(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """Fit an RGB image to ``size`` like :func:`learned_resizer.data.transforms.fit_to_size` (scale
    the shorter side with antialiased bilinear filtering, centre-crop) with Pillow instead of torch,
    as floats in [0, 1].

    The image is resized as 8-bit pixels, as the datasets and the server do: torchvision's 8-bit
    antialiasing reproduces Pillow's filter, so the two agree to within one level.
    """
    height, width = size
    image = image.convert("RGB")
    scale = max(height / image.height, width / image.width)
    covering = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
    if covering != image.size:
        image = image.resize(covering, Image.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    top, left = int(round((covering[1] - height) / 2)), int(round((covering[0] - width) / 2))
    return np.ascontiguousarray(pixels[top : top + height, left : left + width].transpose(2, 0, 1))


@dataclass
class Reply:
    how: str
    body: dict[str, Any]
    bytes_sent: int
    latency_ms: float
    local_ms: float | None = None


def classify(
    url: str,
    image_path: str | Path,
    local: LocalResizer | None = None,
    token: str | None = None,
    float16: bool = False,
    timeout: float = 60.0,
) -> list[Reply]:
    """Send ``image_path`` as it is; with ``local``, also resize it here and send the array.

    ``bytes_sent`` counts the request body (the multipart form); ``latency_ms`` is the round trip.
    """
    image_path = Path(image_path)
    if not image_path.is_file():
        raise FileNotFoundError(f"{image_path}: no such file")
    base = url.rstrip("/")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(timeout=timeout, headers=headers) as client:
        try:
            client.get(f"{base}/healthz").raise_for_status()  # also opens the connection both sends reuse
        except httpx.HTTPError as error:
            raise ValueError(f"cannot reach a learned-resizer server at {base} ({error})") from error
        replies = [_post(client, base, "original image", image_path.read_bytes(), image_path.name, resized=False)]
        if local is not None:
            start = time.perf_counter()
            source = (
                load_rgb(image_path, local.input_size)
                if local.channels == 3
                else load_channels(image_path, local.channels)
            )
            array = local(source)
            local_ms = (time.perf_counter() - start) * 1000
            payload = io.BytesIO()
            np.save(payload, array[None].astype(np.float16 if float16 else np.float32))
            reply = _post(
                client, base, f"resized here ({local.name})", payload.getvalue(), image_path.stem + ".npy", resized=True
            )
            reply.local_ms = local_ms
            replies.append(reply)
    return replies


def _post(client: httpx.Client, base: str, how: str, payload: bytes, filename: str, resized: bool) -> Reply:
    request = client.build_request(
        "POST",
        f"{base}/v1/classify",
        params={"resized": "true"} if resized else None,
        files={"file": (filename, payload, "application/octet-stream")},
    )
    bytes_sent = len(request.read())
    start = time.perf_counter()
    try:
        response = client.send(request)
    except httpx.HTTPError as error:
        raise ValueError(f"{base}: request failed ({error})") from error
    latency_ms = (time.perf_counter() - start) * 1000
    if response.status_code != 200:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise ValueError(f"{base}/v1/classify: HTTP {response.status_code}: {detail}")
    return Reply(how, response.json(), bytes_sent, latency_ms)
