"""Requests are tallied and added to the Prometheus metrics in bulk (app/observability/metrics.py):
the figures must be those that a counter and a histogram, observed one request at a time,
would show."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from app.observability import metrics
from app.observability.metrics import (
    REQUEST_BUCKETS,
    RequestTallyFolder,
    exposition,
    fold_request_tally,
    observe_request,
)

ROOT = Path(__file__).resolve().parents[2]

# Bounds themselves included: a duration equal to a bound counts in that bucket (le).
DURATIONS = (0.0004, 0.002, 0.003, 0.005, 0.2, 0.25, 29.0, 40.0)


def _samples(text: str, name: str, route: str) -> dict[tuple[str, str], float]:
    """The samples of one route's series in a Prometheus text: (sample name, le) -> value."""
    found = {}
    for family in text_string_to_metric_families(text):
        if family.name == name:
            for sample in family.samples:
                if sample.labels.get("route") == route and not sample.name.endswith("_created"):
                    found[(sample.name.removeprefix(name), sample.labels.get("le", ""))] = \
                        sample.value
    return found


def test_the_tally_shows_what_a_histogram_observed_one_by_one_would() -> None:
    route = f"/tally-test/{uuid.uuid4().hex}"
    reference_registry = CollectorRegistry()
    reference = Histogram("reference_seconds", "The same durations, one at a time.",
                          ["method", "route", "status"], buckets=REQUEST_BUCKETS,
                          registry=reference_registry)
    for duration in DURATIONS:
        observe_request("GET", route, 200, duration)
        reference.labels("GET", route, "200").observe(duration)
    text = exposition()[0].decode()
    tallied = _samples(text, "crg_http_request_duration_seconds", route)
    expected = _samples(generate_latest(reference_registry).decode(), "reference_seconds", route)
    assert tallied.keys() == expected.keys() and len(expected) == len(REQUEST_BUCKETS) + 3
    sums = tallied.pop(("_sum", "")), expected.pop(("_sum", ""))
    assert tallied == expected
    assert abs(sums[0] - sums[1]) < 1e-9  # added in another order
    assert tallied[("_bucket", "0.002")] == 2 and tallied[("_bucket", "0.005")] == 4
    requests = _samples(text, "crg_http_requests", route)
    assert requests == {("_total", ""): len(DURATIONS)}


def test_the_folder_adds_the_tally_without_a_scrape_and_at_stop() -> None:
    # As another worker's scrape needs it, in multiprocess mode.
    route = f"/tally-test/{uuid.uuid4().hex}"
    labels = {"method": "POST", "route": route, "status": "201"}
    folder = RequestTallyFolder(every_s=0.05)
    folder.start()
    try:
        observe_request("POST", route, 201, 0.01)
        observe_request("POST", route, 201, 0.02)
        deadline = time.monotonic() + 5
        while REGISTRY.get_sample_value("crg_http_requests_total", labels) != 2:
            assert time.monotonic() < deadline, "the tally was never added to the metrics"
            time.sleep(0.02)
        observe_request("POST", route, 201, 0.03)
    finally:
        folder.stop()
    assert REGISTRY.get_sample_value("crg_http_request_duration_seconds_count", labels) == 3


def test_a_workers_last_requests_are_in_the_shared_figures_after_it_stops(
        tmp_path: Path) -> None:
    # Multiprocess mode: a worker writes its figures to files that every worker's scrape
    # sums, the figures of workers that have exited included.
    worker = """
from app.observability.metrics import RequestTallyFolder, observe_request
folder = RequestTallyFolder()
folder.start()
for duration in (0.001, 0.003, 0.2, 0.2, 7.0):
    observe_request("GET", "/in-a-worker", 200, duration)
folder.stop()
"""
    subprocess.run([sys.executable, "-c", worker], check=True, cwd=ROOT, timeout=60,
                   env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    shared = CollectorRegistry()
    MultiProcessCollector(shared, path=str(tmp_path))
    labels = {"method": "GET", "route": "/in-a-worker", "status": "200"}
    assert shared.get_sample_value("crg_http_requests_total", labels) == 5
    assert shared.get_sample_value("crg_http_request_duration_seconds_bucket",
                                   {**labels, "le": "0.005"}) == 2
    assert shared.get_sample_value("crg_http_request_duration_seconds_count", labels) == 5


def test_a_fold_that_fails_keeps_the_rest_for_the_next_and_counts_nothing_twice(
        monkeypatch: pytest.MonkeyPatch) -> None:
    kept, failing = (f"/tally-test/{uuid.uuid4().hex}" for _ in range(2))
    observe_request("GET", kept, 200, 0.01)
    observe_request("GET", failing, 200, 0.01)  # added first: the tally goes last in
    add = metrics._add_to_metrics

    def add_or_fail(key: tuple[str, str, int], row: list[float]) -> None:
        if key[1] == failing:
            raise OSError("No space left on device")
        add(key, row)

    monkeypatch.setattr(metrics, "_add_to_metrics", add_or_fail)
    with pytest.raises(OSError):
        fold_request_tally()
    monkeypatch.undo()
    fold_request_tally()
    assert REGISTRY.get_sample_value("crg_http_requests_total", {
        "method": "GET", "route": kept, "status": "200"}) == 1
    assert REGISTRY.get_sample_value("crg_http_requests_total", {
        "method": "GET", "route": failing, "status": "200"}) is None
