"""Lines to stderr go out in batches: whole lines, in order, soon, and at once when it matters."""

import io
import logging
import time

import pytest

from app.observability.batched_handler import (
    DEFERRED_BATCH,
    PIPE_BUF,
    BatchedStreamHandler,
    sole_batched_handler,
)


class Writes(io.StringIO):
    """A stream that remembers each write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


@pytest.fixture
def logger():
    log = logging.getLogger("test.batched")
    log.propagate = False
    log.setLevel(logging.INFO)
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()


def attach(logger: logging.Logger, interval_s: float = 60.0) -> tuple[Writes, BatchedStreamHandler]:
    stream = Writes()
    handler = BatchedStreamHandler(stream, flush_interval_s=interval_s)
    logger.addHandler(handler)
    return stream, handler


def test_info_lines_wait_and_go_out_together_in_order(logger):
    stream, handler = attach(logger)
    for i in range(5):
        logger.info("line %d", i)
    assert stream.getvalue() == ""
    handler.flush()
    assert stream.writes == ["".join(f"line {i}\n" for i in range(5))]


def test_a_warning_goes_out_at_once_with_the_lines_before_it(logger):
    stream, _ = attach(logger)
    logger.info("first")
    logger.warning("refused")
    assert stream.getvalue() == "first\nrefused\n"


def test_under_load_each_write_holds_whole_lines_and_fits_a_pipe(logger):
    stream, handler = attach(logger)
    lines = [f"request {i} " + "x" * (i % 300) for i in range(2000)]
    for line in lines:
        logger.info(line)
    handler.flush()
    assert stream.getvalue() == "".join(line + "\n" for line in lines)
    assert len(stream.writes) < len(lines) / 10  # batches, not one write per line
    for text in stream.writes:
        assert text.endswith("\n")
        assert len(text.encode()) <= PIPE_BUF


def test_a_quiet_moment_still_sees_its_lines_soon(logger):
    stream, _ = attach(logger, interval_s=0.05)
    logger.info("alone")
    deadline = time.monotonic() + 5
    while stream.getvalue() == "" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stream.getvalue() == "alone\n"


def test_closing_writes_what_is_left_and_stops_the_thread(logger):
    stream, handler = attach(logger, interval_s=0.05)
    logger.info("last words")
    handler.close()
    assert stream.getvalue() == "last words\n"
    handler._flusher.join(timeout=5)
    assert not handler._flusher.is_alive()


def test_a_failed_write_does_not_stop_later_batches(logger):
    class FailsOnce(Writes):
        failed = False

        def write(self, text: str) -> int:
            if not self.failed:
                self.failed = True
                raise OSError("disk full")
            return super().write(text)

    stream = FailsOnce()
    logger.addHandler(BatchedStreamHandler(stream, flush_interval_s=0.05))
    logger.info("lost with the failed write")
    time.sleep(0.3)  # the flusher met the failure and carries on
    logger.info("written")
    deadline = time.monotonic() + 5
    while "written" not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stream.getvalue() == "written\n"


class Later:
    """A deferred record: made only when its batch is written."""

    def __init__(self, logger: logging.Logger, level: int, text: str) -> None:
        self.logger, self.level, self.text = logger, level, text
        self.made = 0

    def make(self) -> logging.LogRecord:
        self.made += 1
        return self.logger.makeRecord(self.logger.name, self.level, __file__, 0, self.text,
                                      (), None)


def test_deferred_records_are_made_with_their_batch_in_the_order_logged(logger):
    stream, handler = attach(logger)
    first = Later(logger, logging.INFO, "deferred 1")
    handler.defer(first)
    logger.info("handled at once")
    handler.defer(Later(logger, logging.INFO, "deferred 2"))
    assert first.made == 1  # made when a later line had to go after it
    assert stream.getvalue() == ""
    handler.flush()
    assert stream.getvalue() == "deferred 1\nhandled at once\ndeferred 2\n"


def test_deferred_records_wait_for_a_batch_not_one_each(logger):
    stream, handler = attach(logger)
    deferred = [Later(logger, logging.INFO, f"request {i}") for i in range(DEFERRED_BATCH)]
    for later in deferred[:-1]:
        handler.defer(later)
    assert [later.made for later in deferred] == [0] * DEFERRED_BATCH
    handler.defer(deferred[-1])
    assert [later.made for later in deferred] == [1] * DEFERRED_BATCH
    handler.flush()
    assert stream.getvalue() == "".join(f"request {i}\n" for i in range(DEFERRED_BATCH))


def test_a_deferred_warning_goes_out_at_once_with_the_lines_before_it(logger):
    stream, handler = attach(logger)
    handler.defer(Later(logger, logging.INFO, "served"))
    handler.defer(Later(logger, logging.WARNING, "refused"))
    assert stream.getvalue() == "served\nrefused\n"


def test_a_quiet_moment_still_sees_deferred_lines_soon(logger):
    stream, handler = attach(logger, interval_s=0.05)
    handler.defer(Later(logger, logging.INFO, "alone"))
    deadline = time.monotonic() + 5
    while stream.getvalue() == "" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stream.getvalue() == "alone\n"


def test_closing_writes_deferred_lines(logger):
    stream, handler = attach(logger)
    handler.defer(Later(logger, logging.INFO, "last request"))
    handler.close()
    assert stream.getvalue() == "last request\n"


class TestSoleBatchedHandler:
    """Only where logger.handle would give the record to one batched handler, unfiltered."""

    def test_found_through_the_loggers_above(self):
        parent = logging.getLogger("test.sole")
        child = logging.getLogger("test.sole.access")
        handler = BatchedStreamHandler(io.StringIO())
        parent.addHandler(handler)
        parent.propagate = False
        try:
            assert sole_batched_handler(child, logging.INFO) is handler
            other = logging.StreamHandler(io.StringIO())
            child.addHandler(other)  # a second place the line would go
            assert sole_batched_handler(child, logging.INFO) is None
            other.setLevel(logging.ERROR)  # ...unless it lets INFO pass by
            assert sole_batched_handler(child, logging.INFO) is handler
            child.removeHandler(other)
            parent.addFilter(lambda record: True)
            assert sole_batched_handler(child, logging.INFO) is None
        finally:
            parent.filters.clear()
            parent.removeHandler(handler)
            parent.propagate = True
            handler.close()

    def test_not_found_for_another_kind_of_handler_or_a_disabled_logger(self, logger):
        plain = logging.StreamHandler(io.StringIO())
        logger.addHandler(plain)
        assert sole_batched_handler(logger, logging.INFO) is None
        logger.removeHandler(plain)
        _, handler = attach(logger)
        assert sole_batched_handler(logger, logging.INFO) is handler
        logger.disabled = True
        try:
            assert sole_batched_handler(logger, logging.INFO) is None
        finally:
            logger.disabled = False
