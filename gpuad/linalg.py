"""``ad.linalg``: batched linear algebra over the last two dims."""
from .ops.linalg import cross, det, diagonal, inv, matmul, outer, solve, tensordot, trace, vecdot
from .ops.decomp import (cholesky, eigh, eigvalsh, lstsq, matrix_norm, matrix_power, norm, pinv, qr, slogdet,
                         svd, svdvals, vector_norm)
from .ops.compat import cond, matrix_rank, multi_dot, tensorinv, tensorsolve

matrix_transpose = __import__("gpuad.ops.shape", fromlist=["matrix_transpose"]).matrix_transpose

__all__ = ["cross", "det", "diagonal", "inv", "matmul", "norm", "outer", "solve", "tensordot",
           "trace", "vecdot", "matrix_transpose", "cholesky", "eigh", "eigvalsh", "lstsq", "matrix_norm",
           "matrix_power", "pinv", "qr", "slogdet", "svd", "svdvals", "vector_norm", "cond", "matrix_rank",
           "multi_dot", "tensorinv", "tensorsolve"]
