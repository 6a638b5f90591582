"""Matrix decompositions and the norms built on them: ``cholesky``, ``qr``, ``svd``,
``svdvals``, ``eigh``, ``eigvalsh``, ``slogdet``, ``pinv``, ``lstsq``, ``matrix_norm``,
``vector_norm``, ``matrix_power``, with NumPy's signatures, batched over leading dims.

Primitives have one output, so a decomposition with several results is one primitive
whose output packs them (``_pack``): the public function unpacks it with slices, whose
own rules route tangents and cotangents to the right part. Each primitive's JVP rule
follows JAX's (``jax/_src/lax/linalg.py``), written in gpuad ops so it is differentiable
again; its VJP rule is the transpose of that JVP's tangent map (``_vjp_by_transpose``),
which is how JAX derives reverse mode for these too. So both modes, and complex inputs,
follow one formula under gpuad's conjugation convention (docs/transforms.md: VJPs are
transposes, not adjoints, as in JAX).

NOTE [decomposition derivatives]: the eigenvector derivative divides by eigenvalue gaps
w_j - w_i, and the singular vector derivative by s_j^2 - s_i^2 (and by s_i when the
matrix is not square): at degenerate eigen/singular values (and zero singular values of
non-square matrices) they are undefined and come out inf or nan. Functions that do not
depend on the gauge (eigenvalues alone, pinv, the nuclear norm of a full-rank matrix) have
finite derivatives there only when computed through a rule that does not need the vectors'
derivative: ``eigvalsh`` and ``svdvals`` have such rules; ``pinv`` has its own closed-form
rule (constant rank). Like JAX, ``cholesky`` and ``eigh`` differentiate as functions of
the Hermitian part (A + A^H) / 2 of their input (NumPy reads only one triangle).
"""
from __future__ import annotations

import numpy as np

from .. import core
from ..errors import GpuadTypeError, GpuadValueError
from ..primitive import Primitive
from ._util import coerce, norm_one_axis
from .structural import bdim_front_or_broadcast, batch_size


# -- helpers ----------------------------------------------------------------------------
def _batch_leading(prim):
    """Every primitive here maps over leading dims: move the batch dim to the front."""
    def rule(vals, dims, **params):
        n = batch_size(vals, dims)
        return prim.bind(*[bdim_front_or_broadcast(v, d, n) for v, d in zip(vals, dims)], **params), 0
    prim.batch = rule


def _vjp_by_transpose(tangent):
    """The VJP rule whose cotangent map is the transpose of ``tangent(primals, out,
    tangents, **params)`` (linear in ``tangents``): one reverse pass over it, as JAX
    gets reverse mode from its JVP rules."""
    def vjp(ct, out, *primals, **params):
        from .creation import zeros
        zs = [zeros(p.shape, dtype=p.dtype, device=p.device) for p in primals]
        return core.linear_transpose(lambda *ts: [tangent(primals, out, ts, **params)], zs, [ct])
    return vjp


def _defprim(name, impl, tangent):
    """A primitive with JVP ``(bind(*p), tangent(p, out, t))``, its transpose as VJP, and
    the leading-dims batching rule."""
    prim = Primitive(name, impl)

    def jvp(p, t, **params):
        out = prim.bind(*p, **params)
        return out, tangent(p, out, t, **params)
    prim.jvp, prim.vjp = jvp, _vjp_by_transpose(tangent)
    _batch_leading(prim)
    return prim


def _mT(x):
    from .shape import matrix_transpose
    return matrix_transpose(x)


def _H(x):
    from .pointwise import conj
    return conj(_mT(x))


def _mm(a, b):
    from .linalg import matmul
    return matmul(a, b)


def _sym(t):
    """The Hermitian part (t + t^H) / 2 of a tangent."""
    from .pointwise import add, multiply, _c
    return multiply(add(t, _H(t)), _c(t, 0.5))


def _tri(n, k, like, dtype=None):
    """The n x n matrix of ones on and below diagonal ``k`` (zeros above), built on
    ``like``'s device (no host-to-device copy), in ``like``'s real dtype."""
    from ..backends import get_backend
    from ..tensor import Tensor
    be = get_backend(like.device)
    with be.activate():
        arr = be.xp.tri(n, n, k, dtype=dtype or _real(like.dtype))
    return Tensor._make(arr, like.device)


def _eye(n, like, dtype=None):
    from .creation import eye
    return eye(n, dtype=dtype or _real(like.dtype), device=like.device)


def _real(dt):
    dt = np.dtype(dt)
    return np.dtype(dt.char.lower()) if dt.kind == "c" else dt


def _diagonal(x):
    from .linalg import _diagonal as d
    return d(x, x.ndim - 2, x.ndim - 1)


def _item(x, *idx):
    from .indexing import getitem
    return getitem(x, (Ellipsis,) + idx)


def _pack(parts, dtype):
    """Concatenate ``parts`` (same leading dims ``lead``) flattened along one last axis, in
    ``dtype``: one array for a primitive with several results."""
    from .pointwise import astype
    from .shape import concat, reshape
    flat = []
    for p, nlead in parts:
        if p.dtype != dtype:
            p = astype(p, dtype)
        flat.append(reshape(p, tuple(p.shape[:nlead]) + (-1,)))
    return concat(flat, axis=-1)


def _xp_pack(xp, parts, nlead, dtype):
    lead = parts[0].shape[:nlead]
    return xp.concatenate([p.astype(dtype, copy=False).reshape(lead + (-1,)) for p in parts], axis=-1)


def _unpack(packed, shapes):
    """The parts of ``packed`` (a ``_pack`` result) of trailing ``shapes``."""
    from .shape import reshape
    lead = tuple(packed.shape[:-1])
    out, at = [], 0
    for s in shapes:
        n = int(np.prod(s, dtype=int))
        out.append(reshape(_item(packed, slice(at, at + n)), lead + tuple(s)))
        at += n
    return out


def _per_matrix(xp, fn, a, *args, **kw):
    """``fn`` over a stack of matrices; one matrix at a time where the array module does
    not batch (an older CuPy's qr/svd raise on stacked input)."""
    try:
        return fn(a, *args, **kw)
    except (ValueError, NotImplementedError):
        if a.ndim <= 2 or xp is np:
            raise
    flat = a.reshape((-1,) + tuple(a.shape[-2:]))
    parts = [fn(m, *args, **kw) for m in flat]
    lead = tuple(a.shape[:-2])
    if not isinstance(parts[0], tuple):
        return xp.stack(parts).reshape(lead + parts[0].shape)
    return tuple(xp.stack([p[i] for p in parts]).reshape(lead + p0.shape)
                 for i, p0 in enumerate(parts[0]))


def _linalg_error(fn, what):
    def wrap(call):
        def run(be, *arrays, **params):
            try:
                return call(be, *arrays, **params)
            except np.linalg.LinAlgError as e:
                raise GpuadValueError(f"linalg.{fn}: argument 'a' {what} ({e})") from None
        return run
    return wrap


def _square(fn, a, arg="a"):
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise GpuadValueError(f"linalg.{fn}: argument '{arg}' must be a (batch of) square matrices, "
                              f"got shape {a.shape}")


def _matrix(fn, a, arg="a"):
    if a.ndim < 2:
        raise GpuadValueError(f"linalg.{fn}: argument '{arg}' must have at least 2 dims, got shape {a.shape}")


def _uplo(fn, UPLO):
    if not isinstance(UPLO, str) or UPLO.upper() not in ("L", "U"):
        raise GpuadValueError(f"linalg.{fn}: argument 'UPLO' must be 'L' or 'U', got {UPLO!r}")
    return UPLO.upper()


# -- cholesky ---------------------------------------------------------------------------
@_linalg_error("cholesky", "is not positive definite")
def _cholesky_impl(be, a):
    return be.xp.linalg.cholesky(a)


def _cholesky_tangent(p, L, t):
    """A = L L^H: L^-1 dA L^-H = M + M^H with M = L^-1 dL lower triangular with a real
    diagonal, so dL = L phi(L^-1 dA L^-H), phi taking the lower triangle and half the
    diagonal (JAX's cholesky_jvp_rule)."""
    from .linalg import solve
    from .pointwise import multiply, subtract, _c
    (dA,) = t
    n = L.shape[-1]
    x = solve(L, _sym(dA))                       # L^-1 dA
    inner = _H(solve(L, _H(x)))                  # L^-1 dA L^-H
    phi = subtract(_tri(n, 0, L), multiply(_eye(n, L), _c(_eye(n, L), 0.5)))
    return _mm(L, multiply(inner, phi))


cholesky_p = _defprim("cholesky", _cholesky_impl, _cholesky_tangent)


def cholesky(a, /, *, upper=False):
    """The Cholesky factor of each Hermitian positive-definite matrix in the last two dims:
    lower triangular L with ``a = L @ L^H`` (``upper=True``: ``U = L^H``, ``a = U^H @ U``).
    As NumPy, only the lower triangle is read; the derivative is that of the factor of
    the Hermitian part (a + a^H) / 2, as JAX and torch give. A matrix that is not positive
    definite raises ``GpuadValueError`` on cpu; on cuda cuSOLVER returns nan instead."""
    (x,) = coerce("linalg.cholesky", a, floating=True, names=["a"])
    _square("cholesky", x)
    if not isinstance(upper, (bool, np.bool_)):
        raise GpuadTypeError(f"linalg.cholesky: argument 'upper' must be a bool, got {upper!r}")
    L = cholesky_p.bind(x)
    return _H(L) if upper else L


# -- eigh -------------------------------------------------------------------------------
def _eigh_impl(be, a, UPLO):
    # packed (..., n+1, n); small real matrices on a GPU run gpuad's Jacobi kernel
    return be.small_eigh(a, UPLO)


def _eigh_parts(out):
    """(w real, V) from eigh's packed (..., n+1, n) output: row 0 holds the eigenvalues."""
    from .indexing import getitem
    from .pointwise import real
    return real(_item(out, 0, slice(None))), getitem(out, (Ellipsis, slice(1, None), slice(None)))


def _eigh_tangent(p, out, t, UPLO):
    """JAX's eigh_jvp_rule: with X = V^H dA V, dw = real(diag X) and
    dV = V (F o X), F_ij = 1 / (w_j - w_i) off the diagonal, 0 on it."""
    from .pointwise import add, astype, multiply, real, reciprocal, subtract
    from .shape import concat, expand_dims
    (dA,) = t
    w, V = _eigh_parts(out)
    n = w.shape[-1]
    X = _mm(_H(V), _mm(_sym(dA), V))
    eye = _eye(n, w)
    F = subtract(reciprocal(add(eye, subtract(expand_dims(w, -2), expand_dims(w, -1)))), eye)
    dV = _mm(V, multiply(F, X))
    dw = astype(real(_diagonal(X)), out.dtype)
    return concat([expand_dims(dw, -2), dV], axis=-2)


eigh_p = _defprim("eigh", _eigh_impl, _eigh_tangent)


def _eigvalsh_impl(be, a, UPLO):
    return be.xp.linalg.eigvalsh(a, UPLO=UPLO)


def _eigvalsh_tangent(p, w, t, UPLO):
    """dw_i = real(v_i^H dA v_i): needs the eigenvectors, not their derivative, so it stays
    finite at degenerate eigenvalues (where single eigenvalues are still not smooth)."""
    from .pointwise import conj, multiply, real
    from .reductions import sum
    (a,), (dA,) = p, t
    _, V = _eigh_parts(eigh_p.bind(a, UPLO=UPLO))
    # diag(V^H S V)_i = sum_r conj(V_ri) (S V)_ri
    return real(sum(multiply(conj(V), _mm(_sym(dA), V)), axis=-2))


eigvalsh_p = _defprim("eigvalsh", _eigvalsh_impl, _eigvalsh_tangent)


def eigh(a, UPLO="L"):
    """Eigenvalues (ascending, real) and eigenvectors (columns) of each Hermitian matrix in
    the last two dims: ``(eigenvalues, eigenvectors)`` with ``a @ v = v * w``. As NumPy,
    only the ``UPLO`` triangle is read; derivatives are those of the Hermitian part
    (a + a^H) / 2 (JAX's convention). The eigenvector derivative is undefined at
    degenerate eigenvalues (it divides by eigenvalue gaps: inf or nan there), and each
    eigenvector's phase is a gauge: differentiate functions invariant under it
    (NOTE [decomposition derivatives])."""
    (x,) = coerce("linalg.eigh", a, floating=True, names=["a"])
    _square("eigh", x)
    out = eigh_p.bind(x, UPLO=_uplo("eigh", UPLO))
    return _eigh_parts(out)


def eigvalsh(a, UPLO="L"):
    """The eigenvalues (ascending, real) of each Hermitian matrix in the last two dims; the
    derivative (real(v_i^H dA v_i), of the Hermitian part) is finite everywhere but, like
    any single eigenvalue, not smooth where eigenvalues cross."""
    (x,) = coerce("linalg.eigvalsh", a, floating=True, names=["a"])
    _square("eigvalsh", x)
    return eigvalsh_p.bind(x, UPLO=_uplo("eigvalsh", UPLO))


# -- svd --------------------------------------------------------------------------------
def _svd_shapes(m, n, full):
    k = min(m, n)
    return ((m, m if full else k), (k,), (n if full else k, n))


def _svd_impl(be, a, full_matrices):
    xp = be.xp
    u, s, vh = _per_matrix(xp, xp.linalg.svd, a, full_matrices=full_matrices)
    return _xp_pack(xp, (u, s, vh), a.ndim - 2, a.dtype)


def _svd_parts(out, m, n, full):
    from .pointwise import real
    u, s, vh = _unpack(out, _svd_shapes(m, n, full))
    return u, real(s), vh


def _svd_tangent(p, out, t, full_matrices):
    """JAX's svd_jvp_rule (reduced SVD)."""
    from .pointwise import add, divide, equal, astype, multiply, real, reciprocal, subtract, _c
    from .shape import expand_dims
    (a,), (dA,) = p, t
    m, n = a.shape[-2:]
    if full_matrices and m != n:
        raise GpuadValueError(
            "linalg.svd: the derivative with argument 'full_matrices=True' of a non-square matrix is "
            "not defined (the extra singular vectors are arbitrary); pass full_matrices=False")
    U, s, Vh = _svd_parts(out, m, n, full_matrices)
    k = s.shape[-1]
    V, Ut = _H(Vh), _H(U)
    dS = _mm(Ut, _mm(dA, V))
    ds = real(_diagonal(dS))
    s_row = expand_dims(s, -2)                    # s_j along the last axis
    s_col = expand_dims(s, -1)                    # s_i along the rows
    eye = _eye(k, s)
    s_diffs = multiply(add(s_row, s_col), subtract(s_row, s_col))  # s_j^2 - s_i^2
    F = subtract(reciprocal(add(s_diffs, eye)), eye)
    dSS = multiply(dS, s_row)
    SdS = multiply(s_col, dS)
    s_zero = astype(equal(s, 0), s.dtype)
    s_inv = subtract(reciprocal(add(s, s_zero)), s_zero)
    half = _c(s, 0.5)
    diag_term = multiply(multiply(subtract(dS, _H(dS)), half), multiply(eye, expand_dims(s_inv, -2)))
    dU = _mm(U, add(multiply(F, add(dSS, _H(dSS))), diag_term))
    dV = _mm(V, multiply(F, add(SdS, _H(SdS))))
    if m > n:
        dAV = _mm(dA, V)
        dU = add(dU, divide(subtract(dAV, _mm(U, _mm(Ut, dAV))), s_row))
    if n > m:
        dAHU = _mm(_H(dA), U)
        dV = add(dV, divide(subtract(dAHU, _mm(V, _mm(Vh, dAHU))), s_row))
    return _pack([(dU, a.ndim - 2), (ds, a.ndim - 2), (_H(dV), a.ndim - 2)], out.dtype)


svd_p = _defprim("svd", _svd_impl, _svd_tangent)


def _svdvals_impl(be, a):
    xp = be.xp
    return _per_matrix(xp, xp.linalg.svd, a, compute_uv=False)


def _svdvals_tangent(p, s, t):
    """ds_i = real(u_i^H dA v_i): the vectors, not their derivative, so finite at
    degenerate (and zero) singular values."""
    from .pointwise import conj, multiply, real
    from .reductions import sum
    (a,), (dA,) = p, t
    m, n = a.shape[-2:]
    U, _, Vh = _svd_parts(svd_p.bind(a, full_matrices=False), m, n, False)
    return real(sum(multiply(conj(U), _mm(dA, _H(Vh))), axis=-2))


svdvals_p = _defprim("svdvals", _svdvals_impl, _svdvals_tangent)


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """Singular value decomposition ``a = U @ (S[..., None, :] * Vh)`` of each matrix in the
    last two dims, as NumPy: ``(U, S, Vh)``, S descending and real; ``full_matrices=True``
    (the default) gives square U and Vh; ``compute_uv=False`` gives S alone (as
    ``svdvals``). ``hermitian=True`` is accepted and computes the general SVD (a valid
    SVD of a Hermitian matrix; NumPy uses eigh there, so signs may differ).

    Derivatives (JAX's rule): the singular vectors' derivative is undefined at degenerate
    singular values, and for non-square matrices at zero singular values; each pair
    (u_i, v_i) has a phase gauge, so differentiate gauge-invariant functions of them
    (NOTE [decomposition derivatives]). With ``full_matrices=True`` a non-square matrix's
    U or Vh has arbitrary extra columns: differentiating it raises ``GpuadValueError``
    (as JAX and torch refuse), use ``full_matrices=False``."""
    (x,) = coerce("linalg.svd", a, floating=True, names=["a"])
    _matrix("svd", x)
    if not compute_uv:
        return svdvals_p.bind(x)
    m, n = x.shape[-2:]
    full = bool(full_matrices) and m != n
    return tuple(_svd_parts(svd_p.bind(x, full_matrices=full), m, n, full))


def svdvals(x, /):
    """The singular values (descending, real) of each matrix in the last two dims (array
    API); their derivative needs no singular vector derivative, so it is finite at
    degenerate singular values."""
    (a,) = coerce("linalg.svdvals", x, floating=True, names=["x"])
    _matrix("svdvals", a, "x")
    return svdvals_p.bind(a)


# -- qr ---------------------------------------------------------------------------------
def _qr_shapes(m, n, complete):
    k = m if complete else min(m, n)
    return ((m, k), (k, n))


def _qr_impl(be, a, complete):
    xp = be.xp
    q, r = _per_matrix(xp, xp.linalg.qr, a, mode="complete" if complete else "reduced")
    return _xp_pack(xp, (q, r), a.ndim - 2, a.dtype)


def _qr_tangent(p, out, t, complete):
    """JAX's qr_jvp_rule (m >= n): with C = Q^H dA R^-1 and Omega = tril(C, -1) - its
    adjoint (plus i imag(diag C) for complex input), dQ = Q (Omega - C) + dA R^-1 and
    dR = (C - Omega) R."""
    from .linalg import solve
    from .pointwise import add, astype, multiply, real, subtract
    (a,), (dA,) = p, t
    m, n = a.shape[-2:]
    if m < n or (complete and m != n):
        raise GpuadValueError(
            f"linalg.qr: the derivative of the QR decomposition of a {m}x{n} matrix is defined for "
            "m >= n with mode='reduced' (or a square matrix), as in JAX")
    Q, R = _unpack(out, _qr_shapes(m, n, complete))
    dx_rinv = _mT(solve(_mT(R), _mT(dA)))        # dA R^-1
    C = _mm(_H(Q), dx_rinv)
    low = multiply(C, _tri(n, -1, C))
    omega = subtract(low, _H(low))
    if C.dtype.kind == "c":
        omega = add(omega, multiply(_eye(n, C), subtract(C, astype(real(C), C.dtype))))
    dQ = add(_mm(Q, subtract(omega, C)), dx_rinv)
    dR = _mm(subtract(C, omega), R)
    return _pack([(dQ, a.ndim - 2), (dR, a.ndim - 2)], out.dtype)


qr_p = _defprim("qr", _qr_impl, _qr_tangent)


def qr(a, mode="reduced"):
    """QR decomposition of each matrix in the last two dims, as NumPy: ``mode='reduced'``
    (default) -> ``(Q, R)`` with Q (..., M, K), R (..., K, N), K = min(M, N);
    ``'complete'`` -> Q (..., M, M), R (..., M, N); ``'r'`` -> R alone. Signs follow
    LAPACK (R's diagonal may be negative). Derivatives (JAX's rule) need M >= N, and a
    square matrix for ``'complete'``; other cases raise ``GpuadValueError`` when
    differentiated. ``mode='raw'`` is not supported."""
    (x,) = coerce("linalg.qr", a, floating=True, names=["a"])
    _matrix("qr", x)
    if mode not in ("reduced", "complete", "r"):
        raise GpuadValueError(f"linalg.qr: argument 'mode' must be 'reduced', 'complete' or 'r', got {mode!r}")
    m, n = x.shape[-2:]
    complete = mode == "complete" and m > n
    q, r = _unpack(qr_p.bind(x, complete=complete), _qr_shapes(m, n, complete))
    return r if mode == "r" else (q, r)


# -- slogdet ----------------------------------------------------------------------------
@_linalg_error("slogdet", "could not be factored")
def _slogdet_impl(be, a):
    xp = be.xp
    sign, logabs = xp.linalg.slogdet(a)
    return xp.stack([sign.astype(a.dtype), logabs.astype(a.dtype)], axis=-1)


def _slogdet_tangent(p, out, t):
    """With tr = trace(a^-1 dA) (JAX's slogdet_jvp): d logabsdet = real(tr); d sign = 0 for
    real input, sign * i imag(tr) for complex."""
    from .linalg import solve, trace
    from .creation import zeros_like
    from .pointwise import astype, multiply, real, subtract
    from .shape import stack
    (a,), (dA,) = p, t
    tr = trace(solve(a, dA))
    if a.dtype.kind != "c":
        return stack([zeros_like(tr), tr], axis=-1)
    dsign = multiply(_item(out, 0), subtract(tr, astype(real(tr), tr.dtype)))
    return stack([dsign, astype(real(tr), tr.dtype)], axis=-1)


slogdet_p = _defprim("slogdet", _slogdet_impl, _slogdet_tangent)


def slogdet(a):
    """``(sign, logabsdet)`` of each square matrix in the last two dims, as NumPy: det =
    sign * exp(logabsdet), without overflow. For complex input ``sign`` is a unit complex
    number and ``logabsdet`` real. A singular matrix gives (0, -inf), whose derivative is
    undefined."""
    from .pointwise import real
    (x,) = coerce("linalg.slogdet", a, floating=True, names=["a"])
    _square("slogdet", x)
    out = slogdet_p.bind(x)
    return _item(out, 0), real(_item(out, 1))


# -- pinv -------------------------------------------------------------------------------
def _pinv_impl(be, a, rcond):
    xp = be.xp
    u, s, vh = _per_matrix(xp, xp.linalg.svd, a, full_matrices=False)
    cutoff = rcond * s.max(axis=-1, keepdims=True) if s.shape[-1] else s
    large = s > cutoff
    s_inv = xp.where(large, 1 / xp.where(large, s, 1), 0).astype(a.dtype)
    return xp.matmul(xp.conj(xp.swapaxes(vh, -1, -2)) * s_inv[..., None, :], xp.conj(xp.swapaxes(u, -1, -2)))


def _pinv_tangent(p, P, t, rcond):
    """Golub & Pereyra's derivative at constant rank:
    dP = -P dA P + P P^H dA^H (I - A P) + (I - P A) dA^H P^H P."""
    from .pointwise import add, negative, subtract
    (a,), (dA,) = p, t
    AP, PA = _mm(a, P), _mm(P, a)
    dAH = _H(dA)
    I_m = _eye(a.shape[-2], a, a.dtype)
    I_n = _eye(a.shape[-1], a, a.dtype)
    t1 = negative(_mm(P, _mm(dA, P)))
    t2 = _mm(_mm(P, _H(P)), _mm(dAH, subtract(I_m, AP)))
    t3 = _mm(subtract(I_n, PA), _mm(dAH, _mm(_H(P), P)))
    return add(add(t1, t2), t3)


pinv_p = _defprim("pinv", _pinv_impl, _pinv_tangent)

_NoValue = object()


def _rcond_value(fn, rcond, shape, dtype):
    if rcond is None:
        return max(shape[-2:]) * float(np.finfo(_real(dtype)).eps)
    if isinstance(rcond, bool) or not isinstance(rcond, (int, float, np.integer, np.floating)):
        raise GpuadTypeError(f"linalg.{fn}: argument 'rcond' must be a float or None, got {rcond!r}")
    return float(rcond)


def pinv(a, rcond=None, hermitian=False, *, rtol=_NoValue):
    """Moore-Penrose pseudo-inverse of each matrix in the last two dims, as NumPy 2: singular
    values at or below ``rcond * max(s)`` are dropped (``rcond`` default 1e-15; ``rtol=None``
    means max(M, N) * eps; a scalar, not an array, here). ``hermitian`` is accepted (the
    general SVD is used). The derivative is the closed form at constant rank (Golub &
    Pereyra), finite at repeated singular values; it is undefined where the rank changes."""
    (x,) = coerce("linalg.pinv", a, floating=True, names=["a"])
    _matrix("pinv", x)
    if rcond is not None and rtol is not _NoValue:
        raise GpuadValueError("linalg.pinv: arguments 'rcond' and 'rtol' cannot both be set")
    if rcond is None:
        rc = 1e-15 if rtol is _NoValue else _rcond_value("pinv", rtol, x.shape, x.dtype)
    else:
        rc = _rcond_value("pinv", rcond, x.shape, x.dtype)
    return pinv_p.bind(x, rcond=rc)


def lstsq(a, b, rcond=None):
    """Least-squares solution of ``a @ x = b`` as NumPy: ``(x, residuals, rank, s)``; ``a`` is
    (M, N), ``b`` (M,) or (M, K). ``x = pinv(a, rcond) @ b`` (``rcond=None``: machine
    precision times max(M, N)); ``residuals`` the squared 2-norms of ``b - a @ x`` per
    column (shape (K,) or (1,)) when M > N and ``a`` has rank N, else empty; ``rank`` an
    int64 0-d tensor; ``s`` the singular values. x, residuals and s are differentiable (in
    ``a`` and ``b``). Under a transform the rank is not known while tracing, so residuals
    are returned whenever M > N there (NumPy would return an empty array for a
    rank-deficient ``a``)."""
    from .pointwise import abs2, astype, greater, multiply, subtract, _c
    from .reductions import max as amax, sum
    from .shape import expand_dims, squeeze
    from ..tensor import Tensor
    x_, y_ = coerce("linalg.lstsq", a, b, names=["a", "b"], floating=True)
    if x_.ndim != 2:
        raise GpuadValueError(f"linalg.lstsq: argument 'a' must be 2-D, got shape {x_.shape}")
    if y_.ndim not in (1, 2) or y_.shape[0] != x_.shape[0]:
        raise GpuadValueError(f"linalg.lstsq: argument 'b' of shape {y_.shape} does not match 'a' "
                              f"of shape {x_.shape}")
    m, n = x_.shape
    rc = _rcond_value("lstsq", rcond, x_.shape, x_.dtype)
    vec = y_.ndim == 1
    bb = expand_dims(y_, -1) if vec else y_
    sol = _mm(pinv_p.bind(x_, rcond=rc), bb)
    s = svdvals_p.bind(x_)
    if s.shape[-1]:
        rank = sum(astype(greater(s, multiply(amax(s), _c(s, rc))), np.int64))
    else:
        from .creation import zeros
        rank = zeros((), dtype=np.int64, device=x_.device)
    full = m > n and (type(rank) is not Tensor or int(rank.item()) == n)
    if full:
        res = sum(abs2(subtract(bb, _mm(x_, sol))), axis=0)
    else:
        from .creation import zeros
        res = zeros((0,), dtype=_real(x_.dtype), device=x_.device)
    return (squeeze(sol, -1) if vec else sol), res, rank, s


# -- norms ------------------------------------------------------------------------------
_MATRIX_ORDS = ("fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf)


def _is_ord(o, allowed):
    if isinstance(o, str):
        return o in allowed
    if isinstance(o, bool):
        return False
    try:
        return any(not isinstance(v, str) and float(o) == v for v in allowed)
    except (TypeError, ValueError):
        return False


def _matrix_norm(fn, x, ord, a0, a1, keepdims):
    """Matrix norm over axes ``a0``, ``a1`` (NumPy's orders)."""
    from . import pointwise as P
    from .reductions import max as amax, min as amin, sum
    from .shape import expand_dims, moveaxis, squeeze
    if a0 == a1:
        raise GpuadValueError(f"{fn}: argument 'axis' must name two different axes")
    if not _is_ord(ord, _MATRIX_ORDS):
        raise GpuadValueError(f"{fn}: argument 'ord' {ord!r} is not a matrix norm order; expected one of "
                              "'fro', 'nuc', 1, -1, 2, -2, inf, -inf")
    if ord == "fro":
        return P.safe_sqrt(sum(P.abs2(x), axis=(a0, a1), keepdims=keepdims))
    if ord in ("nuc", 2, -2):
        m = moveaxis(moveaxis(x, a0, -1), a1 - 1 if a1 > a0 else a1, -1)   # (..., a0, a1)
        s = svdvals(m)
        r = sum(s, axis=-1) if ord == "nuc" else (amax if ord == 2 else amin)(s, axis=-1)
        if keepdims:
            for ax in sorted((a0, a1)):
                r = expand_dims(r, ax)
        return r
    if float(ord) in (1.0, -1.0):
        s = sum(P.abs(x), axis=a0, keepdims=True)
        r = (amax if ord == 1 else amin)(s, axis=a1, keepdims=True)
    else:
        s = sum(P.abs(x), axis=a1, keepdims=True)
        r = (amax if ord == np.inf else amin)(s, axis=a0, keepdims=True)
    return r if keepdims else squeeze(r, (a0, a1))


def _vector_norm(fn, x, ord, axes, keepdims):
    from .linalg import _vector_norm_axes
    if isinstance(ord, str) or isinstance(ord, bool) or not _is_number(ord):
        raise GpuadValueError(f"{fn}: argument 'ord' {ord!r} is not a vector norm order; expected a "
                              "number, inf or -inf")
    return _vector_norm_axes(x, ord, axes, keepdims)


def _is_number(o):
    try:
        float(o)
        return True
    except (TypeError, ValueError):
        return False


def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    """Matrix norm over the last two dims (array API): ``ord`` in 'fro', 'nuc', 1, -1, 2,
    -2, inf, -inf. 'nuc', 2 and -2 go through ``svdvals`` (finite derivatives at repeated
    singular values; 2 and -2 are not smooth where the largest/smallest ones tie)."""
    (a,) = coerce("linalg.matrix_norm", x, floating=True, names=["x"])
    _matrix("matrix_norm", a, "x")
    return _matrix_norm("linalg.matrix_norm", a, ord, a.ndim - 2, a.ndim - 1, keepdims)


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """Vector norm (array API): over all elements (``axis=None``), one axis, or a tuple of
    axes treated as one vector; ``ord`` any number, inf or -inf (0 counts nonzeros)."""
    (a,) = coerce("linalg.vector_norm", x, floating=True, names=["x"])
    if axis is None:
        axes = tuple(range(a.ndim))
    else:
        axes = axis if isinstance(axis, tuple) else (axis,)
        axes = tuple(norm_one_axis(v, a.ndim, "linalg.vector_norm") for v in axes)
        if len(set(axes)) != len(axes):
            raise GpuadValueError(f"linalg.vector_norm: argument 'axis' {axis!r} repeats an axis")
    return _vector_norm("linalg.vector_norm", a, ord, axes, keepdims)


def norm(x, ord=None, axis=None, keepdims=False):
    """NumPy's ``linalg.norm``: with ``axis=None``, the 2-norm of the flattened input when
    ``ord`` is None, else a vector norm of 1-D input or a matrix norm of 2-D input; an int
    ``axis`` gives vector norms; a 2-tuple ``axis`` gives matrix norms ('fro', 'nuc', 1,
    -1, 2, -2, inf, -inf)."""
    (a,) = coerce("linalg.norm", x, floating=True)
    fn = "linalg.norm"
    if axis is None:
        if ord is None:
            return _vector_norm(fn, a, 2, tuple(range(a.ndim)), keepdims)
        if a.ndim == 1:
            return _vector_norm(fn, a, ord, (0,), keepdims)
        if a.ndim == 2:
            return _matrix_norm(fn, a, ord, 0, 1, keepdims)
        raise GpuadValueError(f"{fn}: argument 'ord' needs a 1-D or 2-D input when 'axis' is None, "
                              f"got shape {a.shape}")
    ax = axis if isinstance(axis, tuple) else (axis,)
    if len(ax) == 1:
        return _vector_norm(fn, a, 2 if ord is None else ord,
                            (norm_one_axis(ax[0], a.ndim, fn),), keepdims)
    if len(ax) == 2:
        a0, a1 = (norm_one_axis(v, a.ndim, fn) for v in ax)
        return _matrix_norm(fn, a, "fro" if ord is None else ord, a0, a1, keepdims)
    raise GpuadValueError(f"{fn}: argument 'axis' must be None, an int or a 2-tuple, got {axis!r}")


# -- matrix_power -----------------------------------------------------------------------
def matrix_power(a, n):
    """``a`` to the integer power ``n`` (square matrices, batched): repeated squaring with
    matmul; ``n < 0`` inverts first; ``n == 0`` gives the identity."""
    from .linalg import inv
    from .shape import broadcast_to
    (x,) = coerce("linalg.matrix_power", a, names=["a"])
    _square("matrix_power", x)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise GpuadTypeError(f"linalg.matrix_power: argument 'n' must be an int, got {n!r}")
    n = int(n)
    if n == 0:
        from .creation import eye
        return broadcast_to(eye(x.shape[-1], dtype=x.dtype, device=x.device), tuple(x.shape))
    if n < 0:
        x = inv(x)
        n = -n
    result, base = None, x
    while n:
        if n & 1:
            result = base if result is None else _mm(result, base)
        n >>= 1
        if n:
            base = _mm(base, base)
    return result
