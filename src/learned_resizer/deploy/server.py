"""HTTP inference server: a FastAPI app factory (:func:`create_app`) and a uvicorn runner.

API (JSON everywhere; errors are ``{"detail": "<what is wrong>"}`` with a 4xx status):

* ``POST /v1/classify`` — multipart field ``file``: an image (JPEG, PNG, WebP, BMP, TIFF). The
  server decodes it, fits it to the checkpoint's input size (as in training), resizes it with the
  learned resizer, runs the base model and returns the top-k labels with timings.
* ``POST /v1/classify?resized=true`` — ``file`` is an image the client already resized: a ``.npy``
  float array (float16/32/64) of shape (3, h, w) or (1, 3, h, w) at the model's input size, in
  pixel scale (the scale of [0, 1] images; values outside [0, 1] are kept — 8-bit PNG would lose
  the learned resizer's out-of-range values). ``resize --format npy`` and ``export`` make these.
* ``POST /v1/compare`` — ``file`` as above; bilinear and learned resizing side by side, as PNG
  data URLs, with predictions for each (used by the web page at ``GET /``).
* ``GET /healthz``, ``GET /openapi.json``, ``GET /docs`` and ``GET /`` need no token.

Limits: uploads over ``max_bytes`` (413; a request must declare its Content-Length, 411
otherwise, so oversized bodies are refused before they are read), images over ``max_pixels``
(413, checked from the header before decoding: decompression bombs), other formats (415),
truncated or corrupt data, and images whose long side is over 100 times the short (422: fitting
them to the input size would enlarge them in that proportion). With a token, every ``/v1`` call
needs ``Authorization: Bearer <token>`` (401). A body must arrive within ``body_timeout`` seconds,
with no pause over ``read_timeout`` (408). At most ``max_in_flight`` ``/v1`` requests are handled
at once, counted from when a body has been read (a slow upload holds no slot); beyond that the
server answers 503 with ``Retry-After`` at once rather than queueing, so a burst cannot pile up
memory or latency, and a client knows to retry.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import math
import secrets
import time
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from fastapi import FastAPI, File, HTTPException, Query, Request, Security, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPBearer
from PIL import Image
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from torchvision.transforms.v2 import functional as F

from learned_resizer import __version__
from learned_resizer.data.images import DEFAULT_MAX_PIXELS, ImageError, load_channels
from learned_resizer.deploy.images import decode_bytes, named_bytes, png_bytes
from learned_resizer.deploy.predict import Predictor
from learned_resizer.deploy.side_by_side import DIFF_GAIN, compare
from learned_resizer.deploy.webpage import PAGE

logger = logging.getLogger(__name__)

_NPY_MAGIC = b"\x93NUMPY"
#: values a client-resized array may hold (pixel scale: [0, 1] images; the learned resizer's output
#: leaves [0, 1] by a fraction, never by hundreds, and values near float32's limit overflow the model)
RESIZED_RANGE = (-100.0, 100.0)
#: room for the multipart envelope (boundaries, part headers) around the file itself
FORM_OVERHEAD = 64 * 1024


@dataclass(frozen=True)
class ServerLimits:
    """What one server accepts (see the module docstring); defaults suit a photo-sized upload."""

    max_bytes: int = 20 * 2**20
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_in_flight: int = 4
    top_k: int = 5
    #: seconds a client has to send a whole request body, and the longest pause within it
    body_timeout: float = 30.0
    read_timeout: float = 10.0

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels", "max_in_flight", "top_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("body_timeout", "read_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {getattr(self, name)}")


_DECODED_SIZE = (
    "(height, width) of the decoded image or array; a large JPEG is decoded at a reduced scale "
    "that still covers the input size, as in training"
)


class Prediction(BaseModel):
    label: str
    index: int = Field(description="position in the model's head")
    probability: float


class Timings(BaseModel):
    decode: float = Field(description="bytes to pixels (or the .npy array), ms")
    fit: float = Field(description="fit to the checkpoint's input size, as in training, ms")
    resize: float = Field(description="learned resizer, ms (0 when the client resized)")
    model: float = Field(description="base model and softmax, ms")
    total: float


class ClassifyResponse(BaseModel):
    predictions: list[Prediction]
    mean_score: float | None = Field(None, description="IQA checkpoints: expected score over bins 1..K")
    decoded_size: tuple[int, int] = Field(description=_DECODED_SIZE)
    model_input_size: tuple[int, int]
    resized_by: Literal["server", "client"]
    timings_ms: Timings


class CompareImages(BaseModel):
    original: str = Field(description="the resizer's input (the upload fitted to the input size), PNG data URL")
    bilinear: str
    learned: str = Field(description="clipped to [0, 1] for display")
    difference: str = Field(description="|learned - bilinear| * difference_gain, clipped to [0, 1]")


class CompareResponse(BaseModel):
    images: CompareImages
    bilinear: list[Prediction]
    learned: list[Prediction]
    difference_gain: float
    clipped_pixels: int = Field(description="pixels of the learned image with a channel outside [0, 1]")
    decoded_size: tuple[int, int] = Field(description=_DECODED_SIZE)
    model_input_size: tuple[int, int]
    timings_ms: dict[str, float]


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    model: str
    resizer: str
    input_size: tuple[int, int]
    model_input_size: tuple[int, int]
    num_outputs: int
    backend: str
    device: str
    task: str


class ErrorBody(BaseModel):
    detail: str


_ERRORS = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        400: "malformed request",
        401: "missing or wrong bearer token",
        411: "no Content-Length",
        408: "request body sent too slowly (body_timeout, read_timeout)",
        413: "file or image too large",
        415: "not an accepted image or array format",
        422: "bad parameter, truncated or corrupt image, or wrong array shape",
        503: "too many requests in flight",
    }.items()
}
#: /v1/segment's answer in its default format
_MASK_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}}, "description": "the mask: class ids as 8-bit grey, the upload's size"}
}


class InFlight:
    """How many ``/v1`` requests are being handled, and how many may be (shared with tests)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.count = limit, 0


class BodyTimeout(Exception):
    """A client that sent its body too slowly (the message says which limit it hit)."""


class RequestGuard:
    """ASGI middleware for the checks that must run before a ``/v1`` request is handled: the token
    and the declared size (before the body is read, so a client without the token, or with too much
    data, cannot make the server read its upload), then the body itself, read within
    ``body_timeout`` seconds and with no gap over ``read_timeout``, and only then the number of
    requests in flight. A slot is thus held while a request is computed, never while a slow client
    trickles its body in. (It runs on the event loop, so the counter needs no lock.)"""

    def __init__(
        self,
        app: ASGIApp,
        max_body: int,
        in_flight: InFlight,
        token: str | None,
        body_timeout: float = 30.0,
        read_timeout: float = 10.0,
    ) -> None:
        self.app, self.max_body, self.in_flight, self.token = app, max_body, in_flight, token
        self.body_timeout, self.read_timeout = body_timeout, read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope) or self._busy()
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        try:
            body = await self._read_body(receive)
        except BodyTimeout as error:
            await _error(408, str(error), {"Connection": "close"})(scope, receive, send)
            return
        if body is None:  # the client went away
            return
        refusal = self._busy()
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        self.in_flight.count += 1
        try:
            await self.app(scope, _replay(body, receive), send)
        finally:
            self.in_flight.count -= 1

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or ``None`` if the client disconnected; :class:`BodyTimeout` if too slow."""
        deadline = time.monotonic() + self.body_timeout
        chunks: list[bytes] = []
        while True:
            left = deadline - time.monotonic()
            wait = min(self.read_timeout, left)
            try:
                message = await asyncio.wait_for(receive(), timeout=max(wait, 0.0))
            except asyncio.TimeoutError:
                if wait < self.read_timeout:
                    raise BodyTimeout(f"body not received within body_timeout={self.body_timeout:g} s") from None
                raise BodyTimeout(f"no data for read_timeout={self.read_timeout:g} s while reading the body") from None
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _refusal(self, scope: Scope) -> JSONResponse | None:
        headers = dict(scope["headers"])
        if self.token is not None and not _bearer_matches(headers.get(b"authorization"), self.token):
            return _error(
                401,
                "missing or wrong bearer token: send the header 'Authorization: Bearer <token>'",
                {"WWW-Authenticate": "Bearer"},
            )
        if scope["method"] == "POST":
            length = headers.get(b"content-length")
            if length is None:
                return _error(411, "the request must declare its Content-Length (chunked uploads are not accepted)")
            if not length.isdigit():
                return _error(400, f"Content-Length {length.decode(errors='replace')!r} is not a number")
            if int(length) > self.max_body:
                return _error(
                    413,
                    f"request body of {int(length):,} bytes exceeds the limit of {self.max_body:,} "
                    f"(max_bytes {self.max_body - FORM_OVERHEAD:,} + {FORM_OVERHEAD:,} for the form)",
                )
        return None

    def _busy(self) -> JSONResponse | None:
        if self.in_flight.count >= self.in_flight.limit:
            return _error(
                503,
                f"server busy: {self.in_flight.count} requests in flight (limit {self.in_flight.limit}); retry later",
                {"Retry-After": "1"},
            )
        return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then listens to the client again."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


def create_app(
    checkpoint: str | Path,
    token: str | None = None,
    limits: ServerLimits = ServerLimits(),
    backend: str = "auto",
    device: torch.device | str = "cpu",
) -> FastAPI:
    """The server for one trained checkpoint directory (config.json + model.safetensors); ``backend``
    is :func:`~learned_resizer.deploy.fast.prepare_for_inference`'s, ``device`` where it runs."""
    predictor = Predictor.load(checkpoint, backend, device)
    config = predictor.config
    app = FastAPI(
        title="learned-resizer",
        version=__version__,
        description=f"Classify images with a learned resizer ({config.resizer}) and base model ({config.model}).",
    )
    app.state.predictor = predictor
    app.state.in_flight = InFlight(limits.max_in_flight)
    app.add_middleware(
        RequestGuard,
        max_body=limits.max_bytes + FORM_OVERHEAD,
        in_flight=app.state.in_flight,
        token=token,
        body_timeout=limits.body_timeout,
        read_timeout=limits.read_timeout,
    )
    # declares the scheme in the OpenAPI schema; RequestGuard enforces it, before the body is read
    bearer = Security(HTTPBearer(auto_error=False, description="required when the server was started with --token"))

    max_k = len(predictor.labels)
    top_k_query = Query(min(limits.top_k, max_k), ge=1, le=max_k, description="how many labels to return")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail), error.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return _error(422, "; ".join(_describe(e) for e in error.errors()))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s", request.url.path)
        return _error(500, f"internal error ({type(error).__name__}); see the server log")

    @app.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE)

    @app.get("/healthz", response_model=Health)
    def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "model": config.model,
            "resizer": config.resizer,
            "input_size": predictor.input_size,
            "model_input_size": predictor.output_size,
            "num_outputs": max_k,
            "backend": predictor.fast.backend,
            "device": str(predictor.device),
            "task": predictor.task,
        }

    @app.post("/v1/classify", response_model=ClassifyResponse, responses=_ERRORS, dependencies=[bearer])
    def classify(
        file: UploadFile = File(description="an image, or with resized=true a .npy array (3, h, w) or (1, 3, h, w)"),
        resized: bool = Query(
            False, description="the file is already resized to the model's input size (.npy, pixel scale)"
        ),
        top_k: int = top_k_query,
    ) -> dict[str, Any]:
        """Top-k labels of one image; the server resizes it unless ``resized=true``."""
        clock = _Clock()
        data, name = _read_upload(file, limits.max_bytes)
        if resized:
            images = torch.from_numpy(_read_resized(data, name, predictor.output_size, predictor.channels))[None]
            decoded = predictor.output_size
            clock.lap("decode")
            clock.skip("fit", "resize")
        else:
            pixels = _decode_pixels(data, name, predictor, limits.max_pixels, predictor.input_size)
            decoded = tuple(pixels.shape[-2:])
            clock.lap("decode")
            fitted = predictor.fit_pixels(pixels)[None]
            clock.lap("fit")
            images = predictor.resize(fitted)
            clock.lap("resize")
        probabilities = predictor.probabilities(images)[0]
        clock.lap("model")
        return {
            "predictions": predictor.top_k(probabilities, top_k),
            "mean_score": predictor.mean_score(probabilities),
            "decoded_size": decoded,
            "model_input_size": predictor.output_size,
            "resized_by": "client" if resized else "server",
            "timings_ms": clock.report(),
        }

    @app.post("/v1/compare", response_model=CompareResponse, responses=_ERRORS, dependencies=[bearer])
    def compare_resizers(file: UploadFile = File(description="an image"), top_k: int = top_k_query) -> dict[str, Any]:
        """Bilinear and learned resizing of one image, their amplified difference, and predictions for each."""
        clock = _Clock()
        if predictor.channels != 3:
            raise HTTPException(409, f"compare shows RGB images; this checkpoint takes {predictor.channels} channels")
        data, name = _read_upload(file, limits.max_bytes)
        pixels = _decode_pixels(data, name, predictor, limits.max_pixels, predictor.input_size)
        clock.lap("decode")
        comparison = compare(predictor, predictor.fit_pixels(pixels))
        clock.lap("resize")
        both = predictor.probabilities(torch.from_numpy(np.stack([comparison.bilinear, comparison.learned])))
        clock.lap("model")
        images = {key: _data_url(getattr(comparison, key)) for key in ("original", "bilinear", "learned", "difference")}
        clock.lap("encode")
        return {
            "images": images,
            "bilinear": predictor.top_k(both[0], top_k),
            "learned": predictor.top_k(both[1], top_k),
            "difference_gain": DIFF_GAIN,
            "clipped_pixels": comparison.clipped,
            "decoded_size": tuple(pixels.shape[-2:]),
            "model_input_size": predictor.output_size,
            "timings_ms": clock.report(),
        }

    @app.post("/v1/segment", responses=_ERRORS | _MASK_RESPONSE, dependencies=[bearer])
    def segment(
        file: UploadFile = File(description="an image"),
        format: Literal["png", "json"] = Query("png", description="png: the mask; json: pixels per class"),
    ) -> Response:
        """Segmentation checkpoints: the class of every pixel of the upload, at its own size, as an
        8-bit PNG of class ids, or as JSON with each class's pixel count."""
        if predictor.task != "segmentation":
            raise HTTPException(409, f"this server's checkpoint is for {predictor.task}, not segmentation")
        data, name = _read_upload(file, limits.max_bytes)
        pixels = _decode_pixels(data, name, predictor, limits.max_pixels, None)  # not drafted: the mask is full size
        mask = predictor.segment(pixels)
        if format == "json":
            counts = np.bincount(mask.ravel(), minlength=len(predictor.labels))
            classes = [
                {"label": label, "index": index, "pixels": int(count)}
                for index, (label, count) in enumerate(zip(predictor.labels, counts))
            ]
            return JSONResponse({"size": list(mask.shape), "classes": classes})
        buffer = io.BytesIO()
        Image.fromarray(mask, mode="L").save(buffer, format="PNG")
        return Response(buffer.getvalue(), media_type="image/png")

    return app


def serve(
    checkpoint: str | Path,
    host: str,
    port: int,
    token: str | None,
    limits: ServerLimits,
    backend: str = "auto",
    device: torch.device | str = "cpu",
) -> None:
    """Run :func:`create_app` under uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(checkpoint, token, limits, backend, device), host=host, port=port, log_level="info")


class _Clock:
    """Milliseconds per step of a request."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round((now - self.last) * 1000, 3)
        self.last = now

    def skip(self, *names: str) -> None:
        self.laps.update(dict.fromkeys(names, 0.0))

    def report(self) -> dict[str, float]:
        return {**self.laps, "total": round((self.last - self.start) * 1000, 3)}


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _bearer_matches(header: bytes | None, token: str) -> bool:
    scheme, _, credentials = (header or b"").partition(b" ")
    return scheme.lower() == b"bearer" and secrets.compare_digest(credentials.strip(), token.encode())


def _describe(error: dict[str, Any]) -> str:
    """One validation error as ``query parameter 'top_k': Input should be ...``."""
    where, *path = error.get("loc", ("request",))
    kind = {"query": "query parameter", "body": "form field"}.get(str(where), str(where))
    return (
        f"{kind} {'.'.join(map(str, path))!r}: {error.get('msg', 'invalid')}" if path else f"{kind}: {error.get('msg')}"
    )


def _read_upload(file: UploadFile, max_bytes: int) -> tuple[bytes, str]:
    name = file.filename or "upload"
    data = file.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise HTTPException(413, f"{name}: file is larger than max_bytes={max_bytes:,}")
    if not data:
        raise HTTPException(422, f"{name}: empty file")
    return data, name


def _decode_pixels(
    data: bytes, name: str, predictor: Predictor, max_pixels: int, fit_size: tuple[int, int] | None
) -> torch.Tensor:
    """An upload as pixels (C, H, W) for the checkpoint's channel count: RGB decoded as in training
    (JPEGs drafted down towards ``fit_size`` where given), other counts by ``load_channels``."""
    try:
        if predictor.channels == 3:
            return F.pil_to_tensor(decode_bytes(data, name, fit_size, max_pixels))
        return torch.from_numpy(load_channels(named_bytes(data, name), predictor.channels, max_pixels))
    except ImageError as error:
        raise HTTPException(_image_error_status(str(error)), str(error)) from error


def _image_error_status(message: str) -> int:
    """``ImageError`` has no subclasses; its messages (tested) say which problem it was."""
    if "too many pixels" in message:
        return 413
    if "not an image" in message or "unsupported format" in message:
        return 415
    return 422


def _read_resized(data: bytes, name: str, size: tuple[int, int], channels: int = 3) -> np.ndarray:
    """A client-resized ``.npy`` upload → float32 (C, h, w); 4xx for anything else.

    The header's shape and dtype are checked before the data is read, so a header that claims a
    huge array costs nothing; values must be finite and within ``RESIZED_RANGE``.
    """
    if not data.startswith(_NPY_MAGIC):
        raise HTTPException(
            415, f"{name}: resized=true expects a .npy array (the file does not start with the .npy magic)"
        )
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"format version {version[0]}.{version[1]}; 1.0 and 2.0 are read")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(stream)
    except (ValueError, OSError, EOFError, SyntaxError, tokenize.TokenError) as error:
        raise HTTPException(415, f"{name}: unreadable .npy header ({error})") from error
    if dtype.kind != "f" or dtype.hasobject:
        raise HTTPException(415, f"{name}: expected a float16/32/64 array, got dtype {dtype}")
    expected = (channels, *size)
    if shape not in (expected, (1, *expected)):
        raise HTTPException(
            422, f"{name}: array of shape {shape}; the model's input needs {expected} or {(1, *expected)}"
        )
    data_bytes = math.prod(shape) * dtype.itemsize
    if len(data) - stream.tell() != data_bytes:
        held = len(data) - stream.tell()
        raise HTTPException(422, f"{name}: the header announces {data_bytes:,} bytes of data, the file holds {held:,}")
    array = np.frombuffer(data, dtype=dtype, offset=stream.tell())
    array = array.reshape(shape, order="F" if fortran_order else "C").reshape(expected).astype(np.float32)
    if not np.isfinite(array).all():
        raise HTTPException(422, f"{name}: the array holds NaN or infinite values")
    low, high = RESIZED_RANGE
    if array.min() < low or array.max() > high:
        raise HTTPException(
            422,
            f"{name}: values from {array.min():g} to {array.max():g}, outside [{low:g}, {high:g}] (pixel scale)",
        )
    return array


def _data_url(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")
