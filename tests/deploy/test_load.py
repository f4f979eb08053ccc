"""A bounded load test on loopback: 300 requests, 8 at a time, no error, bounded memory growth."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from .conftest import LiveServer, encode

REQUESTS = 300
CONCURRENCY = 8
WARM_UP = 40
#: the server's resident memory may grow by at most this much over the 300 requests after warm-up
#: (allocator caches and thread stacks settle during warm-up; a leak of one 48x40 image per request
#: would already be about 7 MiB of float pixels, one of a decoded upload per request far more)
RSS_GROWTH_LIMIT = 48 * 2**20


@pytest.mark.slow
def test_300_requests_8_at_a_time(live_server: LiveServer) -> None:
    uploads = [encode((40 + 4 * (i % 5), 40), "PNG" if i % 2 else "JPEG", seed=i) for i in range(10)]

    def send(client: httpx.Client, i: int) -> int:
        kind = "png" if i % 2 else "jpg"
        return client.post("/v1/classify", files={"file": (f"{i}.{kind}", uploads[i % 10])}).status_code

    with (
        httpx.Client(
            base_url=live_server.url,
            headers=live_server.headers,
            timeout=60,
            limits=httpx.Limits(max_connections=CONCURRENCY),
        ) as client,
        ThreadPoolExecutor(CONCURRENCY) as pool,
    ):
        assert set(pool.map(lambda i: send(client, i), range(WARM_UP))) == {200}
        before = live_server.rss_bytes()
        statuses = list(pool.map(lambda i: send(client, i), range(REQUESTS)))
        after = live_server.rss_bytes()
    assert statuses.count(200) == REQUESTS, {s: statuses.count(s) for s in set(statuses)}
    assert after - before < RSS_GROWTH_LIMIT, f"RSS grew by {(after - before) / 2**20:.1f} MiB"
    assert httpx.get(f"{live_server.url}/healthz").status_code == 200
