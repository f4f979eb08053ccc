"""A server under hostile clients keeps serving: slow uploads hold no in-flight slot and are cut
off by the body deadlines (408), while a tiny elongated PNG and a .npy header claiming a huge array
are refused without allocating; meanwhile a normal request is answered within a second."""

from __future__ import annotations

import resource
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from learned_resizer.deploy.server import ServerLimits, create_app

from .conftest import encode, free_port
from .test_server import npy_header, solid_png

SLOW_CLIENTS = 6
MAX_IN_FLIGHT = 2
BODY_TIMEOUT, READ_TIMEOUT = 3.0, 1.0
#: the process may grow by at most this much while the hostile requests are handled (before the
#: fixes, the .npy header alone asked for 120 GB and the 1x80000 PNG for 1 GB)
PEAK_GROWTH_LIMIT = 200 * 2**20


@pytest.fixture
def server(checkpoint: Path) -> Iterator[str]:
    """The app under uvicorn in a thread of this process, with few slots and short body deadlines."""
    limits = ServerLimits(max_in_flight=MAX_IN_FLIGHT, body_timeout=BODY_TIMEOUT, read_timeout=READ_TIMEOUT)
    port = free_port()
    config = uvicorn.Config(create_app(checkpoint, limits=limits, backend="eager"), port=port, log_level="warning")
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not runner.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    runner.should_exit = True
    thread.join(10)


def _slow_upload(port: int) -> socket.socket:
    """Headers and the first bytes of a 5 kB body, then nothing more."""
    connection = socket.create_connection(("127.0.0.1", port))
    connection.sendall(
        b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        b"Content-Length: 5000\r\n\r\n--b\r\n"
    )
    return connection


def _answer(connection: socket.socket) -> bytes:
    connection.settimeout(BODY_TIMEOUT + 5)
    received = b""
    while chunk := connection.recv(4096):
        received += chunk
    connection.close()
    return received


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def test_hostile_clients_do_not_lock_out_a_normal_request(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    good = {"files": {"file": ("good.png", encode((48, 40)))}}
    with httpx.Client(base_url=server, timeout=10) as client:
        assert client.post("/v1/classify", **good).status_code == 200  # warm up
        before = _peak_rss()
        slow = [_slow_upload(port) for _ in range(SLOW_CLIENTS)]
        time.sleep(0.2)
        elongated = client.post("/v1/classify", files={"file": ("line.png", solid_png(1, 80_000))})
        bomb = client.post(
            "/v1/classify", files={"file": ("h.npy", npy_header((3, 100_000, 100_000)))}, params={"resized": "true"}
        )
        start = time.monotonic()
        served = client.post("/v1/classify", **good)
        elapsed = time.monotonic() - start
        growth = _peak_rss() - before
        answers = [_answer(connection) for connection in slow]
    assert served.status_code == 200 and elapsed < 1.0, (served.status_code, elapsed)
    assert elongated.status_code == 422 and "too elongated" in elongated.json()["detail"]
    assert bomb.status_code == 422 and "(3, 100000, 100000)" in bomb.json()["detail"]
    assert growth < PEAK_GROWTH_LIMIT, f"peak memory grew by {growth / 2**20:.0f} MiB"
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"read_timeout=1 s" in answer


def test_a_trickling_upload_is_cut_off_at_the_body_deadline(server: str) -> None:
    connection = _slow_upload(int(server.rsplit(":", 1)[1]))
    start = time.monotonic()
    connection.settimeout(0.5)
    answer = b""
    while time.monotonic() - start < BODY_TIMEOUT + 5 and not answer:
        connection.sendall(b"x")  # one byte every half second: never idle for read_timeout
        try:
            answer = connection.recv(4096)
        except TimeoutError:
            pass
    elapsed = time.monotonic() - start
    answer += _answer(connection)  # the rest, which a loaded machine may send in a later segment
    assert answer.startswith(b"HTTP/1.1 408") and b"body_timeout=3 s" in answer, answer[:200]
    assert BODY_TIMEOUT - 0.5 < elapsed < BODY_TIMEOUT + 1.5
