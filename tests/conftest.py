import os

import numpy as np
import pytest

import gpuad as ad


def pytest_collection_modifyitems(config, items):
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
