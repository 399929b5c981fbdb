"""Polling for tests that wait on a worker, a topic or a listener: try again until a deadline.

``wait_until_passes`` retries a check until it stops raising ``AssertionError`` (and returns
its result); ``wait_until`` and ``wait_until_async`` poll a predicate until it holds. Each
takes the ``timeout`` (seconds) and the poll ``interval`` (seconds); a test module whose
waits all need other values binds them once, e.g. ``partial(wait_until, timeout=60.0)``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

R = TypeVar("R")

TIMEOUT = 30.0
INTERVAL = 0.25


def wait_until_passes(
    check: Callable[[], R], *, timeout: float = TIMEOUT, interval: float = INTERVAL
) -> R:
    """``check()``'s result once it returns without an ``AssertionError``; past the deadline,
    its last ``AssertionError`` is raised."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(interval)


def wait_until(
    predicate: Callable[[], object], *, timeout: float = TIMEOUT, interval: float = INTERVAL
) -> None:
    """Return once ``predicate()`` is true; fail if it is still false after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"condition never held in {timeout} s"
        time.sleep(interval)


async def wait_until_async(
    predicate: Callable[[], object], *, timeout: float = TIMEOUT, interval: float = INTERVAL
) -> None:
    """``wait_until`` inside an event loop: the loop keeps running between the polls."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"condition never held in {timeout} s"
        await asyncio.sleep(interval)
