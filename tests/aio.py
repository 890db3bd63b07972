"""Run a coroutine from a test, whether or not an event loop already runs in this thread.

Playwright's sync API keeps a loop running in the main thread once a browser test has
started it, and asyncio.run() refuses to nest: a thread of its own gives the coroutine a
fresh loop either way.
"""

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
