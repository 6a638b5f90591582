"""A pytest plugin that stops a session cleanly at a deadline: ``-p bench.pytest_deadline``.

``bench/gpu_check.sh`` must finish in minutes whatever the suite's size. Killing pytest from
outside loses its summary and its JUnit file; this plugin instead stops after the test that
crosses ``GPUAD_PYTEST_DEADLINE_S`` seconds (counted from the start of the session), so
pytest still prints which tests failed and how many ran, writes ``--junitxml``, and exits
with status 2 (interrupted), never 0.
"""
from __future__ import annotations

import os
import time

import pytest

ENV = "GPUAD_PYTEST_DEADLINE_S"
_start = [time.monotonic()]


def pytest_sessionstart(session):
    _start[0] = time.monotonic()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    yield
    limit = os.environ.get(ENV)
    if limit is None:
        return
    elapsed = time.monotonic() - _start[0]
    if elapsed >= float(limit):
        item.session.shouldstop = (f"deadline: {elapsed:.1f} s >= {ENV}={limit}; "
                                   f"stopped after {item.nodeid}")
