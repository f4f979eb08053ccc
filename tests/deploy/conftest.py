"""A small "trained" checkpoint, image files, and one live server (uvicorn on a loopback port) for
the deploy tests. The checkpoint has random weights and non-trivial BatchNorm statistics, so that
folding and exporting are tested on layers that actually change their input."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from learned_resizer.cli import main
from learned_resizer.deploy.export import SUFFIXES
from learned_resizer.pipeline_config import PipelineConfig
from learned_resizer.pretrained import build_pipeline, save_pretrained

CONFIG = PipelineConfig(
    resizer="learned",
    resizer_options={"filters": 4, "blocks": 2},
    model="small_cnn",
    num_outputs=3,
    input_size=(64, 64),
    output_size=(32, 32),
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
    task="classification",
    classes=("cat", "dog", "fox"),
)
TOKEN = "test-token"
#: limits of the live server: small, so that the bad-input tests need only small files
MAX_BYTES = 200_000
MAX_PIXELS = 300 * 300
MAX_IN_FLIGHT = 16


def randomise_batchnorm(module: torch.nn.Module, seed: int = 1) -> None:
    """Give every BatchNorm running statistics and an affine map far from the identity."""
    generator = torch.Generator().manual_seed(seed)
    for layer in module.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            n = layer.num_features
            layer.running_mean.copy_(torch.randn(n, generator=generator) * 0.3)
            layer.running_var.copy_(torch.rand(n, generator=generator) * 1.5 + 0.5)
            with torch.no_grad():
                layer.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                layer.bias.copy_(torch.randn(n, generator=generator) * 0.3)


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    pipeline = build_pipeline(CONFIG)
    randomise_batchnorm(pipeline)
    return save_pretrained(pipeline, CONFIG, tmp_path_factory.mktemp("checkpoint") / "tiny")


@pytest.fixture(scope="session")
def exported(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, bool], tuple[Path, str]]:
    """``exported(fmt, with_model)``: the file ``learned-resizer export`` wrote and what it printed
    (each export made once per session: an ONNX export takes seconds)."""
    folder = tmp_path_factory.mktemp("exported")
    cache: dict[tuple[str, bool], tuple[Path, str]] = {}

    def export(fmt: str, with_model: bool) -> tuple[Path, str]:
        if (fmt, with_model) not in cache:
            path = folder / f"{'pipeline' if with_model else 'resizer'}{SUFFIXES[fmt]}"
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                status = main(
                    ["export", str(checkpoint), "--format", fmt, "--out", str(path)] + ["--with-model"] * with_model
                )
            assert status == 0
            cache[fmt, with_model] = path, printed.getvalue()
        return cache[fmt, with_model]

    return export


def encode(size: tuple[int, int] = (48, 40), fmt: str = "PNG", seed: int = 0, **options) -> bytes:
    """A random RGB image of ``size`` = (w, h) encoded as ``fmt``."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    log: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS in /proc status")


#: the live server's limits, for an in-process app that should behave the same
LIMITS = {"max_bytes": MAX_BYTES, "max_pixels": MAX_PIXELS, "max_in_flight": MAX_IN_FLIGHT}


@pytest.fixture(scope="session")
def live_server(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``learned-resizer serve`` in a subprocess on a free loopback port, with a token and small limits."""
    with start_server(checkpoint, tmp_path_factory.mktemp("server")) as server:
        yield server


@contextlib.contextmanager
def start_server(checkpoint: Path, log_dir: Path) -> Iterator[LiveServer]:
    """``learned-resizer serve CHECKPOINT`` as :func:`live_server` runs it, stopped on exit."""
    port = free_port()
    log = log_dir / "server.log"
    command = [
        sys.executable,
        "-m",
        "learned_resizer.cli",
        "serve",
        str(checkpoint),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--token",
        TOKEN,
        *(f"--{name.replace('_', '-')}={value}" for name, value in LIMITS.items()),
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    with log.open("w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=environment)
    server = LiveServer(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not answer /healthz in time:\n{log.read_text()}")
            time.sleep(0.25)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
