"""pooling.prometheus: scraped from a real prometheus_client HTTP endpoint on localhost."""

from __future__ import annotations

import urllib.request

import prometheus_client  # in the test extra
import pytest

from pooling import Pool
from pooling.prometheus import PoolCollector


def _scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


@pytest.mark.timeout(30)
def test_scrape_exposes_live_counts_counters_and_histograms() -> None:
    registry = prometheus_client.CollectorRegistry()
    pool = Pool(3, object, name="scraped")
    PoolCollector(pool, registry=registry)
    server, thread = prometheus_client.start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        held = [pool.get_session() for _ in range(2)]
        held[0].close()
        pool2 = Pool(1, object, name="full")
        PoolCollector(pool2, registry=registry)
        keep = pool2.get_session()
        with pytest.raises(TimeoutError):
            pool2.get_session(timeout=0)
        samples = _scrape(server.server_port)
        assert samples['pooling_pool_size{pool="scraped"}'] == 3
        assert samples['pooling_size{pool="scraped"}'] == 2
        assert samples['pooling_in_use{pool="scraped"}'] == 1
        assert samples['pooling_idle{pool="scraped"}'] == 1
        assert samples['pooling_created_total{pool="scraped"}'] == 2
        assert samples['pooling_leases_total{pool="scraped"}'] == 2
        assert samples['pooling_timeouts_total{pool="full"}'] == 1
        assert samples['pooling_in_use{pool="full"}'] == 1
        # one lease returned: one hold observation, in the +Inf bucket and every larger one
        assert samples['pooling_hold_seconds_count{pool="scraped"}'] == 1
        assert samples['pooling_hold_seconds_bucket{le="+Inf",pool="scraped"}'] == 1
        assert samples['pooling_wait_seconds_count{pool="scraped"}'] == 0
        keep.close()
        held[1].close()
        samples = _scrape(server.server_port)
        assert samples['pooling_in_use{pool="scraped"}'] == 0
        assert samples['pooling_hold_seconds_count{pool="scraped"}'] == 2
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_rejects_what_is_not_a_pool() -> None:
    collector = PoolCollector(registry=None)
    with pytest.raises(TypeError, match=r"pool must be a pooling\.Pool"):
        collector.add("not a pool")  # type: ignore[arg-type]
