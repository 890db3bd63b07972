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
PUSH_SENDS = Counter(
    "crg_push_sends_total",
    "Reminders by Web Push, by outcome: sent, gone (subscription ended: forgotten), failed, "
    "missed (over an hour late, after an outage: not sent).",
    ["outcome"],
)


def method_label(method: str) -> str:
    return method if method in _METHODS else "OTHER"


# The children of each label set, found once: `labels()` validates and locks on every call.
# Bounded like the labels: methods x route templates x statuses.
_request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

# Each request is tallied here, under one lock, and the tally is added to the two metrics
# in bulk: at each scrape, and every FOLD_EVERY_S (so that in multiprocess mode another
# worker's scrape sees it too). A counter and a histogram cost three locks and a search of
# the buckets per request, more than a replayed answer's own work; the tally, one lock and
# a few additions. A tally row: count, sum of seconds, then each bucket's count (+Inf last).
FOLD_EVERY_S = 1.0
_tally_lock = threading.Lock()
_tally: dict[tuple[str, str, int], list[float]] = {}


def observe_request(method: str, route: str, status: int, duration_s: float) -> None:
    key = (method_label(method), route, status)
    with _tally_lock:
        row = _tally.get(key)
        if row is None:
            row = _tally[key] = [0] * (len(REQUEST_BUCKETS) + 3)
        row[0] += 1
        row[1] += duration_s
        # The first bucket whose bound is at least the duration, as Histogram.observe does.
        row[2 + bisect_left(REQUEST_BUCKETS, duration_s)] += 1


def fold_request_tally() -> None:
    """Add the requests tallied since the last fold to the Prometheus metrics."""
    global _tally
    with _tally_lock:
        tally, _tally = _tally, {}
    for key, row in tally.items():
        children = _request_children.get(key)
        if children is None:
            method, route, status = key
            labels = (method, route, str(status))
            children = (HTTP_REQUESTS.labels(*labels), HTTP_REQUEST_SECONDS.labels(*labels))
            _request_children[key] = children
        requests, seconds = children
        requests.inc(row[0])
        # Histogram.observe's own values, added to in bulk (it takes one at a time).
        seconds._sum.inc(row[1])  # type: ignore[attr-defined]
        for bucket, count in zip(seconds._buckets, row[2:], strict=True):  # type: ignore[attr-defined]
            if count:
                bucket.inc(count)


def _fold_every() -> None:
    while True:
        time.sleep(FOLD_EVERY_S)
        try:
            fold_request_tally()
        except Exception:  # noqa: BLE001  (a failed fold must not end the folding)
            log.exception("Could not add the request tally to the metrics.")


def _start_folding() -> None:
    threading.Thread(target=_fold_every, name="metrics-fold", daemon=True).start()


def _restart_after_fork() -> None:
    # Threads do not survive fork: a worker forked from a parent that imported this needs
    # its own, and a tally of its own (the parent's is the parent's to add), under a lock
    # that no thread of the parent's can have been holding.
    global _tally_lock, _tally
    _tally_lock, _tally = threading.Lock(), {}
    _start_folding()


_start_folding()
os.register_at_fork(after_in_child=_restart_after_fork)


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
