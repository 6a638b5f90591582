"""``ad.linalg``: batched linear algebra over the last two dims."""
from .ops.linalg import cross, det, diagonal, inv, matmul, norm, outer, solve, tensordot, trace, vecdot

matrix_transpose = __import__("gpuad.ops.shape", fromlist=["matrix_transpose"]).matrix_transpose

__all__ = ["cross", "det", "diagonal", "inv", "matmul", "norm", "outer", "solve", "tensordot",
           "trace", "vecdot", "matrix_transpose"]
