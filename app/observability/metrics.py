"""Prometheus metrics (prometheus-client) and the small functions the app calls to count.

Labels are bounded on purpose: routes by their template (`/media/{sha256}.{ext}`, never the
raw path), methods from a fixed set, render labels from the built-in routine ids.
"""

import logging
import os
import threading
import time
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

log = logging.getLogger(__name__)

UNMATCHED_ROUTE = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "crg_http_requests_total", "HTTP requests answered.", ["method", "route", "status"]
)
REQUEST_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
HTTP_REQUEST_SECONDS = Histogram(
    "crg_http_request_duration_seconds",
    "Time from request to the last byte of the response.",
    ["method", "route", "status"],
    buckets=REQUEST_BUCKETS,
)
SESSION_RENDERS = Counter(
    "crg_session_renders_total",
    "Sessions rendered to audio (warm answers from memory or the database are not renders).",
    ["routine", "cue_density", "outcome"],
)
SESSION_RENDER_SECONDS = Histogram(
    "crg_session_render_duration_seconds",
    "Time to render one session: speech, mix, encode, store.",
    ["routine"],
    buckets=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0),
)
SYNC_BATCHES = Counter("crg_sync_batches_total", "Sync push batches handled.")
SYNC_MUTATIONS = Counter(
    "crg_sync_mutations_total",
    "Pushed mutations by result: applied, duplicate (seen before: skipped), superseded, "
    "not_applied (after a gap: skipped), rejected.",
    ["result"],
)
SYNC_PUSHES_OVERTAKEN = Counter(
    "crg_sync_pushes_overtaken_total",
    "PostgreSQL: pushes that read again, another push of their account having been written "
    "between their read and their write.",
)
PUSH_SENDS = Counter(
    "crg_push_sends_total",
    "Reminders by Web Push, by outcome: sent, gone (subscription ended: forgotten), failed, "
    "missed (over an hour late, after an outage: not sent).",
    ["outcome"],
)

# Set by app/sync/polls.py. With several workers, the lowest of the live ones: 0 if any
# worker reads every poll.
SYNC_WRITE_LISTENER_HEARING = Gauge(
    "crg_sync_write_listener_hearing",
    "PostgreSQL: 1 while this process hears of every instance's writes, so that polls "
    "with nothing new are answered from memory; 0 while every poll is read.",
    multiprocess_mode="livemin",
)


def method_label(method: str) -> str:
    return method if method in _METHODS else "OTHER"


# The children of each label set, found once: `labels()` validates and locks on every call.
# Bounded like the labels: methods x route templates x statuses.
_request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

# Each request is tallied here, under one lock, and the tally is added to the two metrics
# in bulk: at each scrape, every FOLD_EVERY_S (another worker's scrape, in multiprocess
# mode, sees only what was added), and at shutdown. Per request, one lock and a few
# additions, where a counter and a histogram took three locks and a search of the buckets.
FOLD_EVERY_S = 1.0
_COUNT, _SUM, _FIRST_BUCKET = 0, 1, 2  # a tally row; the buckets end with +Inf
_tally_lock = threading.Lock()
_tally: dict[tuple[str, str, int], list[float]] = {}
# One fold at a time: a scrape waits for a fold under way, so that it shows every request
# answered before it began.
_fold_lock = threading.Lock()


def observe_request(method: str, route: str, status: int, duration_s: float) -> None:
    key = (method_label(method), route, status)
    with _tally_lock:
        row = _tally.get(key)
        if row is None:
            row = _tally[key] = [0] * (_FIRST_BUCKET + len(REQUEST_BUCKETS) + 1)
        row[_COUNT] += 1
        row[_SUM] += duration_s
        # The first bucket whose bound is at least the duration, as Histogram.observe does.
        row[_FIRST_BUCKET + bisect_left(REQUEST_BUCKETS, duration_s)] += 1


def fold_request_tally() -> None:
    """Add the requests tallied since the last fold to the Prometheus metrics."""
    global _tally
    with _fold_lock:
        with _tally_lock:
            tally, _tally = _tally, {}
        try:
            while tally:
                _add_to_metrics(*tally.popitem())
        finally:
            # After a failure (a full multiprocess directory, say), the rows not yet
            # added go back to the tally for the next fold; the one that failed is lost,
            # as one observation would be, rather than counted twice.
            if tally:
                with _tally_lock:
                    for key, row in tally.items():
                        kept = _tally.setdefault(key, [0] * len(row))
                        kept[:] = [a + b for a, b in zip(kept, row, strict=True)]


def _add_to_metrics(key: tuple[str, str, int], row: list[float]) -> None:
    children = _request_children.get(key)
    if children is None:
        method, route, status = key
        labels = (method, route, str(status))
        children = (HTTP_REQUESTS.labels(*labels), HTTP_REQUEST_SECONDS.labels(*labels))
        _check_histogram_values(children[1])
        _request_children[key] = children
    requests, seconds = children
    requests.inc(row[_COUNT])
    seconds._sum.inc(row[_SUM])  # type: ignore[attr-defined]
    buckets = seconds._buckets  # type: ignore[attr-defined]
    for bucket, count in zip(buckets, row[_FIRST_BUCKET:], strict=True):
        if count:
            bucket.inc(count)


def _check_histogram_values(child: Histogram) -> None:
    # The fold adds to Histogram.observe's own values (observe takes one at a time).
    buckets = getattr(child, "_buckets", None)
    if not (hasattr(getattr(child, "_sum", None), "inc") and isinstance(buckets, list)
            and len(buckets) == len(REQUEST_BUCKETS) + 1):
        raise RuntimeError("This prometheus-client keeps a histogram's values elsewhere: "
                           "app/observability/metrics.py must follow.")


class RequestTallyFolder:
    """Adds the request tally to the metrics every FOLD_EVERY_S, and once more at stop."""

    def __init__(self, every_s: float = FOLD_EVERY_S) -> None:
        self.every_s = every_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._fold_every, name="metrics-fold",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(5)
        fold_request_tally()  # the last requests, before a worker's figures are final

    def _fold_every(self) -> None:
        while not self._stopped.wait(self.every_s):
            try:
                fold_request_tally()
            except Exception:
                log.exception("Could not add the request tally to the metrics.")


@contextmanager
def observe_render(routine_id: str, cue_density: str) -> Iterator[None]:
    """Wraps one render: counts it (ok or error) and times the ones that succeed."""
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    finally:
        SESSION_RENDERS.labels(routine_id, cue_density, outcome).inc()
        if outcome == "ok":
            SESSION_RENDER_SECONDS.labels(routine_id).observe(time.perf_counter() - started)


class _MutationResult(Protocol):
    @property
    def status(self) -> str: ...


class _PushOutcome(Protocol):
    @property
    def results(self) -> Iterable[_MutationResult]: ...


PushOutcome = TypeVar("PushOutcome", bound=_PushOutcome)


def record_sync_batch(outcome: PushOutcome) -> PushOutcome:
    """Counts one push batch and its results; returns it unchanged, so a route can wrap
    its return value in one call."""
    SYNC_BATCHES.inc()
    for result, count in Tally(r.status for r in outcome.results).items():
        SYNC_MUTATIONS.labels(result).inc(count)
    return outcome


def record_push_overtaken() -> None:
    SYNC_PUSHES_OVERTAKEN.inc()


def record_push_send(outcome: str) -> None:
    """Counts one reminder: `sent`, `gone`, `failed` or `missed`."""
    PUSH_SENDS.labels(outcome).inc()


def exposition() -> tuple[bytes, str]:
    """The Prometheus text of this process, or of every worker in multiprocess mode."""
    # prometheus-client itself switches to shared files when this variable is set at start
    # (uvicorn --workers N); then the figures of all workers must be read from that folder.
    fold_request_tally()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
