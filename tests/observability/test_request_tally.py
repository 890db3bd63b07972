"""Requests are tallied and added to the Prometheus metrics in bulk (app/observability/metrics.py):
the figures must be those that a counter and a histogram, observed one request at a time,
would show."""

import time
import uuid

from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app.observability.metrics import (
    FOLD_EVERY_S,
    REQUEST_BUCKETS,
    exposition,
    observe_request,
)

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


def test_the_tally_reaches_the_metrics_without_a_scrape() -> None:
    # As another worker's scrape needs it, in multiprocess mode.
    route = f"/tally-test/{uuid.uuid4().hex}"
    labels = {"method": "POST", "route": route, "status": "201"}
    observe_request("POST", route, 201, 0.01)
    observe_request("POST", route, 201, 0.02)
    deadline = time.monotonic() + 3 * FOLD_EVERY_S + 2
    while REGISTRY.get_sample_value("crg_http_requests_total", labels) != 2:
        assert time.monotonic() < deadline, "the tally was never added to the metrics"
        time.sleep(0.05)
    assert REGISTRY.get_sample_value("crg_http_request_duration_seconds_count", labels) == 2
