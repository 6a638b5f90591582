"""What one device kernel costs: global bytes read and written, and flops.

``ad.count_launches()`` records these per launch on a GPU device (``c.records``, see
``gpuad.launches``); the GPU cost model of the bench (``bench/gpu_model.py``, DESIGN.md
"GPU cost model") divides them by an H100's or H200's bandwidth and FP64 peak.

Bytes are taken from the arrays a launch actually reads and writes, never from a formula:

- :func:`distinct_bytes` of an array is the memory its elements occupy, each element once:
  a broadcast view (stride 0) counts its source once, a strided view (``F[:, 0, 0]``) its
  elements only. Sector granularity is not modelled: a strided read of one float64 out of
  every 72 bytes moves a 32-byte sector per element on a real GPU, here it counts 8.
- a kernel's bytes read are the distinct bytes of its device-array inputs, its bytes
  written those of its outputs. Inputs read several times (from L2 or registers) count once.

Flops (``None`` where unknown) count one per arithmetic operation per element, with weights
(NVIDIA GPUs have no FP64 divide or transcendental instruction: libdevice runs a sequence of
FP64 fused multiply-adds):

- ``+ - *``, negation, comparisons, ``abs``/``min``/``max``, a select: 1
  (:data:`ARITHMETIC_WEIGHT`);
- division, ``sqrt``, ``%``: :data:`DIVIDE_WEIGHT` = 8 (a reciprocal estimate and Newton
  steps);
- ``exp``, ``log``, ``sin``, ``tanh``, ``pow``, ``erf``, ``lgamma``, ... and ``x ** y`` with
  a non-integer or large exponent: :data:`TRANSCENDENTAL_WEIGHT` = 20 (libdevice's FP64
  range reduction plus a polynomial of about 10-20 terms);
- ``x ** k`` for a small integer constant k: k - 1 multiplies (Numba expands it);
- a conditional ``a if c else b``: the test plus the costlier branch.

Library calls (``gpuad.backends.counting``): a matmul or a two-operand ``einsum`` 2 flops
per point of its index space (2·M·N·K for a matmul), a one-operand ``einsum`` 1 per point;
an elementwise call (ufunc, ``where``, ...) its weight per output element; a reduction one
per input element; ``fft`` 5·N·log2(N) per transform; dense linalg the LAPACK operation
counts (:func:`library_flops`); copies, fills, gathers, scatters and random draws 0 (they
are bytes only).
"""
from __future__ import annotations

import ast
import math
from functools import lru_cache

import numpy as np

ARITHMETIC_WEIGHT = 1
DIVIDE_WEIGHT = 8
TRANSCENDENTAL_WEIGHT = 20
_DIVIDE_FUNCS = frozenset({"sqrt", "fmod", "reciprocal", "true_divide", "divide", "remainder",
                           "floor_divide", "mod", "cbrt", "rsqrt"})
_CHEAP_FUNCS = frozenset({"fabs", "abs", "floor", "ceil", "trunc", "copysign", "isnan", "isinf",
                          "isfinite", "min", "max", "minimum", "maximum", "negative", "add",
                          "subtract", "multiply", "square", "sign", "where", "less", "greater",
                          "equal", "not_equal", "less_equal", "greater_equal", "logical_and",
                          "logical_or", "logical_not", "absolute", "rint", "fmax", "fmin",
                          "conjugate", "positive", "clip"})
_BYTES_ONLY = frozenset({"ascontiguousarray", "asarray", "asanyarray", "array", "asfortranarray",
                         "require", "reshape", "ravel", "transpose", "swapaxes", "moveaxis",
                         "rollaxis", "squeeze", "expand_dims", "broadcast_to", "copy", "astype",
                         "concatenate", "stack", "hstack", "vstack", "take", "take_along_axis",
                         "put", "put_along_axis", "copyto", "zeros", "ones", "full", "zeros_like",
                         "ones_like", "full_like", "eye", "identity", "tile", "repeat", "pad",
                         "flip", "roll", "diagonal", "fill", "fill_diagonal", "__getitem__",
                         "__setitem__", "place", "putmask", "tril", "triu", "arange", "linspace",
                         "diag", "diagflat", "split", "array_split", "broadcast_arrays", "getitem",
                         "setitem", "empty", "empty_like"})
_REDUCTIONS = frozenset({"sum", "prod", "max", "min", "amax", "amin", "mean", "any", "all",
                         "cumsum", "cumprod", "argmax", "argmin", "nansum", "norm", "var", "std",
                         "count_nonzero", "trace"})
_MATMUL = frozenset({"matmul", "dot", "tensordot", "inner", "vdot", "__matmul__",
                     "__rmatmul__"})


def distinct_bytes(a) -> int:
    """The memory ``a``'s elements occupy, each element once (0 for non-arrays): the
    size over its dimensions of nonzero stride, times its item size."""
    shape = getattr(a, "shape", None)
    if shape is None or not hasattr(a, "itemsize"):
        return 0
    strides = getattr(a, "strides", None) or (1,) * len(shape)
    n = 1
    for d, s in zip(shape, strides):
        if d == 0:
            return 0
        if s != 0:
            n *= d
    return n * a.itemsize


def total_bytes(arrays) -> int:
    """:func:`distinct_bytes` summed over ``arrays``, each array object once."""
    seen = set()
    total = 0
    for a in arrays:
        if id(a) not in seen:
            seen.add(id(a))
            total += distinct_bytes(a)
    return total


# -- elementwise programs ------------------------------------------------------------------
def function_weight(name: str) -> int:
    """The flops of one call of the scalar function (or ufunc) ``name``."""
    if name in _CHEAP_FUNCS:
        return ARITHMETIC_WEIGHT
    if name in _DIVIDE_FUNCS:
        return DIVIDE_WEIGHT
    return TRANSCENDENTAL_WEIGHT


class _Counter(ast.NodeVisitor):
    def count(self, node) -> int:
        return self.visit(node) or 0

    def generic_visit(self, node):
        return sum(self.count(c) for c in ast.iter_child_nodes(node))

    def visit_BinOp(self, node):
        inner = self.count(node.left) + self.count(node.right)
        if isinstance(node.op, ast.Pow):
            k = node.right.value if isinstance(node.right, ast.Constant) else None
            if isinstance(k, (int, float)) and float(k).is_integer() and 0 <= k <= 8:
                return inner + max(int(k) - 1, 0)
            return inner + TRANSCENDENTAL_WEIGHT
        if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)):
            return inner + DIVIDE_WEIGHT
        return inner + ARITHMETIC_WEIGHT

    def visit_UnaryOp(self, node):
        inner = self.count(node.operand)
        if isinstance(node.operand, ast.Constant):
            return inner  # a literal -1.0
        return inner + ARITHMETIC_WEIGHT

    def visit_Compare(self, node):
        return self.generic_visit(node) + ARITHMETIC_WEIGHT * len(node.ops)

    def visit_BoolOp(self, node):
        return self.generic_visit(node) + ARITHMETIC_WEIGHT * (len(node.values) - 1)

    def visit_IfExp(self, node):
        return (self.count(node.test) + max(self.count(node.body), self.count(node.orelse))
                + ARITHMETIC_WEIGHT)

    def visit_Call(self, node):
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "?")
        return sum(self.count(a) for a in node.args) + function_weight(name)

    def visit_Attribute(self, node):
        return 0  # math.pi

    def visit_Name(self, node):
        return 0

    def visit_Constant(self, node):
        return 0


@lru_cache(maxsize=4096)
def expression_flops(expr: str) -> int:
    """Flops of one evaluation of the scalar Python expression ``expr`` (weights above)."""
    return _Counter().count(ast.parse(expr, mode="eval"))


@lru_cache(maxsize=4096)
def program_flops(stmts: tuple, outs: tuple) -> int:
    """Flops per element of an elementwise program (``gpuad.kernels.elementwise``):
    every statement once, then every output expression."""
    return sum(expression_flops(e) for _, e in stmts) + sum(expression_flops(e) for e in outs)


def small_linalg_flops(name: str, k: int, nbatch: int, m: int = 1) -> int:
    """Flops of gpuad's batched k x k kernels (``gpuad.kernels.small_linalg``), per matrix
    times ``nbatch``: ``det`` 2k³/3 (elimination), ``inv`` 2k³, ``solve`` 2k³/3 + 2k²m,
    ``eigh`` 32k³ (cyclic Jacobi: about 8 sweeps of k(k-1)/2 rotations of 8k flops each)."""
    per = {"det": 2 * k ** 3 / 3, "inv": 2 * k ** 3, "solve": 2 * k ** 3 / 3 + 2 * k * k * m,
           "eigh": 32 * k ** 3}[name]
    return int(nbatch * per)


# -- library calls ----------------------------------------------------------------------------
def _size(a) -> int:
    return int(getattr(a, "size", 1))


def _shape(a) -> tuple:
    return tuple(getattr(a, "shape", ()))


def matmul_flops(a, b) -> int:
    """2·M·N·K per matrix product of ``a @ b`` (NumPy's matmul rules, batch broadcast)."""
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        return 2 * max(_size(a), 1) * max(_size(b), 1)
    if len(sa) == 1:
        sa = (1,) + sa
    if len(sb) == 1:
        sb = sb + (1,)
    M, K = sa[-2:]
    N = sb[-1]
    batch = np.broadcast_shapes(sa[:-2], sb[:-2])
    return 2 * int(np.prod(batch, dtype=np.int64)) * M * N * K


def einsum_flops(args) -> int:
    """2 per point of the index space of a two-operand ``einsum`` (2·M·N·K for a matmul),
    1 per point for one operand; for more operands, 2 per point per pairwise product (an
    upper bound: a good contraction order is cheaper)."""
    spec, ops = args[0], args[1:]
    if not isinstance(spec, str):
        return None
    ins = spec.replace(" ", "").split("->")[0].split(",")
    sizes = {}
    for labels, op in zip(ins, ops):
        shape = _shape(op)
        if "..." in labels:
            return None
        for ch, d in zip(labels, shape):
            sizes[ch] = max(sizes.get(ch, 1), int(d))
    points = int(np.prod(list(sizes.values()), dtype=np.int64)) if sizes else 1
    return points if len(ops) == 1 else 2 * (len(ops) - 1) * points


def linalg_flops(name: str, a) -> int | None:
    """LAPACK operation counts per matrix (Golub & Van Loan) times the batch: ``solve``
    2n³/3 + 2n²·nrhs (here n³ for the right-hand sides too), ``inv`` 2n³, ``det``/``slogdet``
    2n³/3, ``cholesky`` n³/3, ``qr`` 4n³/3, ``eigh`` 9n³, ``eigvalsh`` 4n³/3, ``svd`` 22n³."""
    shape = _shape(a)
    if len(shape) < 2:
        return None
    n = int(shape[-1])
    batch = int(np.prod(shape[:-2], dtype=np.int64))
    per = {"solve": 2 / 3 + 2, "inv": 2, "det": 2 / 3, "slogdet": 2 / 3, "cholesky": 1 / 3,
           "qr": 4 / 3, "eigh": 9, "eigvalsh": 4 / 3, "svd": 22, "lstsq": 4 / 3,
           "pinv": 22, "matrix_rank": 22}.get(name)
    return None if per is None else int(batch * per * n ** 3)


def _operation(name: str) -> str:
    """The NumPy name of the operation a proxy label stands for: ``"cupy.ndarray.__imul__"``
    -> ``"multiply"``, ``"cupy.add.at"`` -> ``"add"``, ``"cublas.einsum"`` -> ``"einsum"``."""
    parts = name.split(".")
    op = parts[-1]
    if op in ("at", "outer") and len(parts) >= 3:
        op = parts[-2]
    if op.startswith("__") and op.endswith("__"):
        op = op[2:-2]
        if op[:1] in ("i", "r") and op[1:] in _OPERATORS:
            op = op[1:]
    return _OPERATORS.get(op, op)


_OPERATORS = {"add": "add", "sub": "subtract", "mul": "multiply", "truediv": "divide",
              "floordiv": "floor_divide", "mod": "remainder", "pow": "power",
              "matmul": "matmul", "and": "logical_and", "or": "logical_or",
              "xor": "logical_and", "lshift": "add", "rshift": "add", "neg": "negative",
              "eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal",
              "gt": "greater", "ge": "greater_equal", "abs": "absolute", "invert": "logical_not"}


def library_flops(name: str, args, out) -> int | None:
    """Flops of the array-module call ``name(*args) -> out`` (``name`` as the counting proxy
    labels it: ``"cublas.einsum"``, ``"cupy.sin"``, ``"cusolver.linalg.solve"``,
    ``"cupy.ndarray.__mul__"``, ...; for an operator ``args`` starts with the array it is
    called on), or None when unknown."""
    op = _operation(name)
    last = name.rsplit(".", 1)[-1]
    if op in _BYTES_ONLY or name.startswith("curand."):
        return 0
    if op in _MATMUL or op == "matmul":
        if len(args) < 2:
            return None
        a, b = args[:2]
        return matmul_flops(b, a) if last == "__rmatmul__" else matmul_flops(a, b)
    if op == "einsum":
        return einsum_flops(args)
    if ".linalg." in name:
        return linalg_flops(op, args[0]) if args else None
    if name.startswith("cufft."):
        n = _size(args[0]) if args else 0
        length = _shape(args[0])[-1] if args and _shape(args[0]) else 1
        return int(5 * n * math.log2(max(length, 2)))
    if op in _REDUCTIONS or last in ("reduce", "accumulate", "reduceat"):
        return sum(_size(a) for a in args if hasattr(a, "shape"))
    if last == "at":  # a scatter: one operation per value scattered
        return function_weight(op) * (_size(args[2]) if len(args) > 2 else _size(args[1]))
    outs = out if isinstance(out, (tuple, list)) else (out,)
    elements = sum(_size(o) for o in outs if hasattr(o, "shape"))
    if not elements:  # in place: the target's elements
        elements = _size(args[0]) if args else 0
    return function_weight(op) * elements
