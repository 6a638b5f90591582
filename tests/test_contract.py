"""Two-operand einsum as one matrix multiply (gpuad/ops/contract.py): same numbers as
np.einsum for every plain product, C-contiguous results, None for everything else."""
import numpy as np
import pytest

from gpuad.ops.contract import as_matmul

SIZES = dict(a=3, b=4, c=5, d=6, i=7, j=8, k=9)


def _operands(sub, rng):
    ins = sub.split("->")[0].split(",")
    return [rng.normal(size=[SIZES[c] for c in s]) for s in ins]


@pytest.mark.parametrize("sub", ["ik,ak->ai", "ak,ik->ai", "bai,ik->bak", "ik,bak->bai",
                                 "ij,jk->ik", "ij,jk->ki", "abc,cd->dba", "i,i->", "ij,ij->",
                                 "i,j->ij", "ij,j->i", "j,ij->i", "bij,jk->bik", "abcd,dc->ba"])
def test_plain_products_match_einsum(sub, rng):
    a, b = _operands(sub, rng)
    got = as_matmul(np, sub, a, b)
    np.testing.assert_allclose(got, np.einsum(sub, a, b), rtol=1e-13, atol=1e-13)


def test_weight_times_batch_comes_out_c_contiguous(rng):
    W, H = rng.normal(size=(32, 16)), rng.normal(size=(50, 16))
    out = as_matmul(np, "ik,ak->ai", W, H)
    assert out.flags["C_CONTIGUOUS"] and out.shape == (50, 32)


@pytest.mark.parametrize("sub", ["bij,bjk->bik", "ii,i->i", "ij,k->i", "bi,bi->b"])
def test_other_contractions_are_left_to_einsum(sub, rng):
    a, b = _operands(sub, rng) if "ii" not in sub else (rng.normal(size=(7, 7)), rng.normal(size=7))
    assert as_matmul(np, sub, a, b) is None


def test_broadcast_size_one_axis_is_left_to_einsum(rng):
    assert as_matmul(np, "ij,jk->ik", rng.normal(size=(3, 1)), rng.normal(size=(4, 5))) is None
