"""Helpers shared by the transform tests: compare gpuad results with torch.func's."""
import numpy as np
import torch

import gpuad as ad

RTOL = 1e-10
ATOL = 1e-12


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    assert isinstance(t, ad.Tensor), f"expected an ad.Tensor, got {type(t).__name__}"
    return np.asarray(t.detach().numpy())  # as for torch: a result may require grad


def assert_tree_close(got, want, rtol=RTOL, atol=ATOL):
    """``got`` (gpuad) has the tree structure, shapes and values of ``want`` (torch)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), (got, want)
        for k in want:
            assert_tree_close(got[k], want[k], rtol, atol)
    elif isinstance(want, (tuple, list)):
        assert type(got) is type(want) and len(got) == len(want), (type(got), type(want))
        for g, w in zip(got, want):
            assert_tree_close(g, w, rtol, atol)
    else:
        g, w = _np(got), _np(want)
        assert g.shape == w.shape, (g.shape, w.shape)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
