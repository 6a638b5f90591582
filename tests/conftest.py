import os

import numpy as np
import pytest

import gpuad as ad


# ---------------------------------------------------------------------------------------
# test profiles (issue 15). The default ``pytest -q`` is the quick profile: every test
# marked ``slow`` is deselected (not skipped), so it runs in under 10 minutes on a
# 2-core machine and still reaches every op, primitive, transform and workload at least
# once. ``GPUAD_TEST_PROFILE=full`` runs everything (CI does: .ci/run runs the README's
# command). An explicit ``-m`` expression also turns the profile off: ``-m slow`` runs
# only the long tables, ``-m "cuda or cudasim"`` every GPU-path test, slow or not; a test
# named on the command line (``path::test`` or ``path::test[case]``) runs whatever its mark.
# Which cases are slow is written next to each table (``pytest.mark.slow`` in its
# parametrization; tests/test_ops.py's rule is in its ``cases``).
# ---------------------------------------------------------------------------------------
PROFILES = ("quick", "full")


def _profile(config):
    name = os.environ.get("GPUAD_TEST_PROFILE", "").strip().lower() or "quick"
    if name not in PROFILES:
        raise pytest.UsageError(f"GPUAD_TEST_PROFILE={name!r}: expected one of {', '.join(PROFILES)}")
    if config.getoption("markexpr", ""):
        return "markexpr"
    return name


def pytest_configure(config):
    config._gpuad_profile = _profile(config)
    config._gpuad_slow_deselected = 0


def pytest_report_header(config):
    p = config._gpuad_profile
    if p == "quick":
        return ("gpuad test profile: quick (tests marked slow are deselected; "
                "GPUAD_TEST_PROFILE=full runs all of them, as CI does)")
    if p == "full":
        return "gpuad test profile: full (every test, slow ones included)"
    return "gpuad test profile: none (an explicit -m expression selects the tests)"


def pytest_terminal_summary(terminalreporter, config):
    n = config._gpuad_slow_deselected
    if n:  # pytest -q prints no header: say it here too
        terminalreporter.write_line(f"gpuad quick test profile: {n} slow tests deselected; "
                                    f"GPUAD_TEST_PROFILE=full runs them")


def _named(config):
    """The test ids named on the command line (``path::test`` or ``path::test[case]``),
    relative to the root: a slow test named there runs in the quick profile too."""
    out = []
    for arg in config.args:
        if "::" in arg:
            path, rest = arg.split("::", 1)
            path = os.path.relpath(os.path.abspath(path), str(config.rootpath)).replace(os.sep, "/")
            out.append(f"{path}::{rest}")
    return out


def _deselect_slow(config, items):
    if config._gpuad_profile != "quick":
        return
    named = _named(config)
    keep, slow = [], []
    for item in items:
        is_slow = item.get_closest_marker("slow") is not None and not any(
            item.nodeid == n or item.nodeid.startswith(n + "[") or item.nodeid.startswith(n + "::")
            for n in named)
        (slow if is_slow else keep).append(item)
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = keep
        config._gpuad_slow_deselected = len(slow)


def pytest_collection_modifyitems(config, items):
    _deselect_slow(config, items)
    usable = ad.devices()
    skip_cuda = pytest.mark.skip(reason="no usable CUDA GPU here: " + str(
        __import__("gpuad.backends", fromlist=["x"]).unavailable_reason("cuda")))
    skip_sim = pytest.mark.skip(reason="numba-cuda simulator not installed (pip install gpuad[cudasim])")
    for item in items:
        if "cuda" in item.keywords and "cuda" not in usable:
            item.add_marker(skip_cuda)
        if "cudasim" in item.keywords and "cudasim" not in usable:
            item.add_marker(skip_sim)


@pytest.fixture(autouse=True)
def _clean_state():
    """Every test starts and must end with no transform active; the default device a
    test sets (the bench's GpuadLib sets it for its run) is put back after it."""
    from gpuad import core
    assert core.state().stack == []
    device = ad.get_default_device()
    yield
    ad.set_default_device(device)
    assert core.state().stack == [], "a transform level was left on the stack"
    assert core.state().nograd_level == -1


@pytest.fixture
def rng():
    return np.random.default_rng(0)
