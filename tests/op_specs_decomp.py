"""Op specs for the ad.linalg decompositions and norms; registered into ``op_specs`` by its ``register``.

Decompositions with a sign (phase) gauge or several results are tested through
gauge-invariant functions of them: V diag(sin w) V^T, squared entries of singular
vectors, U diag(sin s) Vh, QR factors with the signs of diag(R) divided out, and so on.
Inputs are drawn generic (distinct eigen/singular values, full rank), away from the
points where these derivatives are undefined (NOTE [decomposition derivatives])."""
from __future__ import annotations

import numpy as np
import torch

try:
    import gpuad as ad
except ImportError:  # pragma: no cover
    ad = None


def _tag(*shapes):
    return "[" + "|".join(",".join(map(str, s)) for s in shapes) + "]"


# SPD / symmetric builders, written once per library
def _spd(lib):
    def f(x):
        n = x.shape[-1]
        if lib == "ad":
            return x @ ad.matrix_transpose(x) + n * ad.eye(n, dtype=x.dtype, device=x.device)
        if lib == "torch":
            return x @ x.mT + n * torch.eye(n, dtype=x.dtype)
        return x @ np.swapaxes(x, -1, -2) + n * np.eye(n)
    return f


def _symm(lib):
    def f(x):
        if lib == "ad":
            return x + ad.matrix_transpose(x)
        if lib == "torch":
            return x + x.mT
        return x + np.swapaxes(x, -1, -2)
    return f


def register(S):
    """Add this family's specs to the table ``S`` (the ``op_specs`` module)."""
    la = S._la
    U, MIX, WC = S.U, S.MIX, S.WC
    spd = {k: _spd(k) for k in ("ad", "torch", "np")}
    sym = {k: _symm(k) for k in ("ad", "torch", "np")}

    # -- cholesky -----------------------------------------------------------------------
    for s in [(3, 3), (2, 4, 4), (1, 1)]:
        la(f"linalg.cholesky{_tag(s)}", lambda x: ad.linalg.cholesky(spd["ad"](x)),
           lambda x: torch.linalg.cholesky(spd["torch"](x)), lambda x: np.linalg.cholesky(spd["np"](x)),
           MIX(U(s)), diff=(0,), hess=s == (3, 3), rtol32=1e-3)
    la("linalg.cholesky[3,3]upper", lambda x: ad.linalg.cholesky(spd["ad"](x), upper=True),
       lambda x: torch.linalg.cholesky(spd["torch"](x), upper=True),
       lambda x: np.linalg.cholesky(spd["np"](x), upper=True), MIX(U((3, 3))), diff=(0,), rtol32=1e-3)

    # -- eigh / eigvalsh ------------------------------------------------------------------
    def _eig_fn(lib):
        def f(x):
            if lib == "ad":
                w, v = ad.linalg.eigh(sym["ad"](x))
                return (v * ad.sin(w)[..., None, :]) @ ad.matrix_transpose(v)
            if lib == "torch":
                w, v = torch.linalg.eigh(sym["torch"](x))
                return (v * torch.sin(w)[..., None, :]) @ v.mT
            w, v = np.linalg.eigh(sym["np"](x))
            return (v * np.sin(w)[..., None, :]) @ np.swapaxes(v, -1, -2)
        return f

    for s in [(3, 3), (2, 4, 4)]:
        la(f"linalg.eigh{_tag(s)}vsinw", _eig_fn("ad"), _eig_fn("torch"), _eig_fn("np"), MIX(U(s)),
           diff=(0,), hess=s == (3, 3), rtol32=2e-3)
        la(f"linalg.eigh{_tag(s)}w", lambda x: ad.linalg.eigh(sym["ad"](x))[0],
           lambda x: torch.linalg.eigh(sym["torch"](x))[0], lambda x: np.linalg.eigh(sym["np"](x))[0],
           MIX(U(s)), diff=(0,), rtol32=1e-3)
        la(f"linalg.eigh{_tag(s)}v2", lambda x: ad.linalg.eigh(sym["ad"](x))[1] ** 2,
           lambda x: torch.linalg.eigh(sym["torch"](x))[1] ** 2,
           lambda x: np.linalg.eigh(sym["np"](x))[1] ** 2, MIX(U(s)), diff=(0,), rtol32=2e-3)
        la(f"linalg.eigvalsh{_tag(s)}", lambda x: ad.linalg.eigvalsh(sym["ad"](x)),
           lambda x: torch.linalg.eigvalsh(sym["torch"](x)), lambda x: np.linalg.eigvalsh(sym["np"](x)),
           MIX(U(s)), diff=(0,), hess=s == (3, 3), rtol32=1e-3)
    # UPLO='U' reads the upper triangle: a symmetric input makes it the same function
    la("linalg.eigh[3,3]UPLO=U", lambda x: ad.linalg.eigh(sym["ad"](x), UPLO="U")[0],
       lambda x: torch.linalg.eigh(sym["torch"](x), UPLO="U")[0],
       lambda x: np.linalg.eigh(sym["np"](x), UPLO="U")[0], MIX(U((3, 3))), diff=(0,), rtol32=1e-3)

    # -- svd / svdvals ----------------------------------------------------------------------
    def _svd_fn(lib, full=False):
        def f(x):
            if lib == "ad":
                u, s, vh = ad.linalg.svd(x, full_matrices=full)
                return (u[..., :, :s.shape[-1]] * ad.sin(s)[..., None, :]) @ vh[..., :s.shape[-1], :]
            if lib == "torch":
                u, s, vh = torch.linalg.svd(x, full_matrices=full)
                return (u[..., :, :s.shape[-1]] * torch.sin(s)[..., None, :]) @ vh[..., :s.shape[-1], :]
            u, s, vh = np.linalg.svd(x, full_matrices=full)
            return (u[..., :, :s.shape[-1]] * np.sin(s)[..., None, :]) @ vh[..., :s.shape[-1], :]
        return f

    for s in [(3, 3), (4, 3), (3, 4), (2, 4, 3)]:
        la(f"linalg.svd{_tag(s)}usinsvh", _svd_fn("ad"), _svd_fn("torch"), _svd_fn("np"), MIX(U(s)),
           diff=(0,), hess=s == (3, 3), rtol32=2e-3)
        la(f"linalg.svd{_tag(s)}u2", lambda x: ad.linalg.svd(x, full_matrices=False)[0] ** 2,
           lambda x: torch.linalg.svd(x, full_matrices=False)[0] ** 2,
           lambda x: np.linalg.svd(x, full_matrices=False)[0] ** 2, MIX(U(s)), diff=(0,), rtol32=2e-3)
        la(f"linalg.svd{_tag(s)}vh2", lambda x: ad.linalg.svd(x, full_matrices=False)[2] ** 2,
           lambda x: torch.linalg.svd(x, full_matrices=False)[2] ** 2,
           lambda x: np.linalg.svd(x, full_matrices=False)[2] ** 2, MIX(U(s)), diff=(0,), rtol32=2e-3)
        la(f"linalg.svdvals{_tag(s)}", lambda x: ad.linalg.svdvals(x), torch.linalg.svdvals,
           lambda x: np.linalg.svd(x, compute_uv=False), MIX(U(s)), diff=(0,), hess=s == (4, 3),
           rtol32=1e-3)
    la("linalg.svd[3,3]full", _svd_fn("ad", True), _svd_fn("torch", True), _svd_fn("np", True),
       MIX(U((3, 3))), diff=(0,), rtol32=2e-3)
    la("linalg.svd[3,4]compute_uv=False", lambda x: ad.linalg.svd(x, compute_uv=False),
       torch.linalg.svdvals, lambda x: np.linalg.svd(x, compute_uv=False), MIX(U((3, 4))), diff=(0,))

    # -- qr (the signs of diag(R) divided out: a gauge-free factorization) ----------------
    def _qr_fn(lib, part):
        def f(x):
            if lib == "ad":
                q, r = ad.linalg.qr(x)
                d = ad.sign(ad.diagonal(r, axis1=-2, axis2=-1))
            elif lib == "torch":
                q, r = torch.linalg.qr(x)
                d = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
            else:
                q, r = np.linalg.qr(x)
                d = np.sign(np.diagonal(r, axis1=-2, axis2=-1))
            return q * d[..., None, :] if part == "q" else r * d[..., :, None]
        return f

    for s in [(3, 3), (4, 3), (2, 4, 3)]:
        for part in ("q", "r"):
            la(f"linalg.qr{_tag(s)}{part}", _qr_fn("ad", part), _qr_fn("torch", part), _qr_fn("np", part),
               MIX(U(s)), diff=(0,), hess=s == (3, 3), rtol32=1e-3)
    la("linalg.qr[4,3]mode=r", lambda x: ad.abs(ad.linalg.qr(x, mode="r")),
       lambda x: torch.abs(torch.linalg.qr(x)[1]), lambda x: np.abs(np.linalg.qr(x, mode="r")),
       MIX(U((4, 3))), diff=(0,), rtol32=1e-3)

    # -- slogdet --------------------------------------------------------------------------
    for s in [(3, 3), (2, 4, 4), (1, 1)]:
        la(f"linalg.slogdet{_tag(s)}logabsdet", lambda x: ad.linalg.slogdet(x)[1],
           lambda x: torch.linalg.slogdet(x)[1], lambda x: np.linalg.slogdet(x)[1], MIX(WC(s)),
           diff=(0,), hess=s == (3, 3), rtol32=1e-3)
        la(f"linalg.slogdet{_tag(s)}det", lambda x: ad.linalg.slogdet(x)[0] * ad.exp(ad.linalg.slogdet(x)[1]),
           lambda x: torch.linalg.slogdet(x)[0] * torch.exp(torch.linalg.slogdet(x)[1]),
           lambda x: np.linalg.det(x), MIX(WC(s)), diff=(0,), rtol32=1e-3)

    # -- pinv / lstsq ---------------------------------------------------------------------
    for s in [(3, 3), (4, 3), (3, 4), (2, 4, 3)]:
        la(f"linalg.pinv{_tag(s)}", lambda x: ad.linalg.pinv(x), torch.linalg.pinv, np.linalg.pinv,
           MIX(WC(s) if s[-1] == s[-2] else U(s)), diff=(0,), hess=s == (4, 3), rtol32=2e-3)
    for sa, sb in [((4, 3), (4,)), ((4, 3), (4, 2)), ((3, 3), (3,))]:
        vec = len(sb) == 1
        tsol = (lambda v: lambda a, b: (torch.linalg.pinv(a) @ b))(vec)
        la(f"linalg.lstsq{_tag(sa, sb)}x", lambda a, b: ad.linalg.lstsq(a, b)[0], tsol,
           lambda a, b: np.linalg.lstsq(a, b)[0], MIX(WC(sa) if sa[0] == sa[1] else U(sa), U(sb)),
           rtol32=2e-3)
    la("linalg.lstsq[4,3|4,2]residuals", lambda a, b: ad.linalg.lstsq(a, b)[1],
       lambda a, b: torch.sum((b - a @ (torch.linalg.pinv(a) @ b)) ** 2, dim=0),
       lambda a, b: np.linalg.lstsq(a, b)[1], MIX(U((4, 3)), U((4, 2))), rtol32=2e-3)
    la("linalg.lstsq[4,3|4]s", lambda a, b: ad.linalg.lstsq(a, b)[3],
       lambda a, b: torch.linalg.svdvals(a) + 0 * b.sum(), lambda a, b: np.linalg.lstsq(a, b)[3],
       MIX(U((4, 3)), U((4,))), diff=(0,), rtol32=1e-3)

    # -- matrix_norm / vector_norm / norm ---------------------------------------------------
    for s in [(3, 4), (2, 3, 3)]:
        for o in ("fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf):
            la(f"linalg.matrix_norm{_tag(s)}ord={o}", (lambda o: lambda x: ad.linalg.matrix_norm(x, ord=o))(o),
               (lambda o: lambda x: torch.linalg.matrix_norm(x, ord=o))(o),
               (lambda o: lambda x: np.linalg.norm(x, ord=o, axis=(-2, -1)))(o), MIX(U(s)), diff=(0,),
               rtol32=1e-3)
    la("linalg.matrix_norm[3,4]ord=nuc,kd", lambda x: ad.linalg.matrix_norm(x, ord="nuc", keepdims=True),
       lambda x: torch.linalg.matrix_norm(x, ord="nuc", keepdim=True),
       lambda x: np.linalg.norm(x, ord="nuc", keepdims=True), MIX(U((3, 4))), diff=(0,), rtol32=1e-3)
    for s, kw in [((5,), {}), ((3, 4), {}), ((3, 4), {"axis": 1}), ((2, 3, 4), {"axis": (0, 2)}),
                  ((3, 4), {"ord": 1, "axis": 0}), ((3, 4), {"ord": np.inf}), ((5,), {"ord": 3}),
                  ((2, 3, 4), {"ord": -np.inf, "axis": -1, "keepdims": True}), ((5,), {"ord": 0.5})]:
        tkw = {("dim" if k == "axis" else "keepdim" if k == "keepdims" else k): v for k, v in kw.items()}
        nkw = dict(kw)
        o = nkw.pop("ord", 2)
        ax = nkw.pop("axis", None)
        kd = nkw.pop("keepdims", False)

        def npf(x, o=o, ax=ax, kd=kd):
            a = np.abs(x)
            axes = tuple(range(x.ndim)) if ax is None else ax
            if o == np.inf:
                return np.max(a, axis=axes, keepdims=kd)
            if o == -np.inf:
                return np.min(a, axis=axes, keepdims=kd)
            return np.sum(a ** o, axis=axes, keepdims=kd) ** (1 / o)

        la(f"linalg.vector_norm{_tag(s)}{kw}", (lambda kw: lambda x: ad.linalg.vector_norm(x, **kw))(kw),
           (lambda kw: lambda x: torch.linalg.vector_norm(x, **kw))(tkw), npf, MIX(S_(S, s)), diff=(0,))
    # NumPy's norm: ord on 2-D input (or with a 2-tuple axis) is a matrix norm
    for s, kw in [((3, 4), {"ord": 1}), ((3, 4), {"ord": -1}), ((3, 4), {"ord": "nuc"}), ((3, 4), {"ord": 2}),
                  ((3, 4), {"ord": -2}), ((3, 4), {"ord": np.inf}), ((3, 4), {"ord": "fro"}),
                  ((2, 3, 4), {"ord": 1, "axis": (2, 0)}), ((2, 3, 4), {"ord": "nuc", "axis": (1, 2)}),
                  ((2, 3, 4), {"ord": 2, "axis": (0, 2), "keepdims": True}), ((5,), {"ord": 3}),
                  ((3, 4), {"ord": 1, "axis": 0}), ((3, 4), {"keepdims": True})]:
        def tf(x, kw=kw):
            o, ax, kd = kw.get("ord"), kw.get("axis"), kw.get("keepdims", False)
            if ax is None and o is None:
                r = torch.linalg.vector_norm(x, keepdim=kd)
                return r.reshape((1,) * x.ndim) if kd else r
            if ax is None:
                ax = (0, 1) if x.ndim == 2 else 0
            if isinstance(ax, tuple):
                return torch.linalg.matrix_norm(x, ord=o, dim=ax, keepdim=kd)
            return torch.linalg.vector_norm(x, ord=2 if o is None else o, dim=ax, keepdim=kd)

        la(f"linalg.norm{_tag(s)}{kw}", (lambda kw: lambda x: ad.linalg.norm(x, **kw))(kw), tf,
           (lambda kw: lambda x: np.linalg.norm(x, **kw))(kw), MIX(S_(S, s)), diff=(0,), rtol32=1e-3)

    # -- matrix_power (n == 0, a constant, is in test_decomp.py) -------------------------
    for s, n in [((3, 3), 3), ((2, 3, 3), -2), ((3, 3), 1), ((2, 2), 5)]:
        la(f"linalg.matrix_power{_tag(s)}n={n}", (lambda n: lambda x: ad.linalg.matrix_power(x, n))(n),
           (lambda n: lambda x: torch.linalg.matrix_power(x, n))(n),
           (lambda n: lambda x: np.linalg.matrix_power(x, n))(n), MIX(WC(s)), diff=(0,),
           hess=(s, n) == ((3, 3), 3), rtol32=1e-3)


def S_(S, shape):
    """Entries of magnitude in (0.3, 2) with random signs (norms stay smooth), scaled by
    distinct factors so maxima, minima and column sums do not tie."""
    base = S.S(shape)
    n = int(np.prod(shape, dtype=int))

    def gen(rng):
        return base(rng) * (1.0 + np.arange(n).reshape(shape) / (4.0 * max(n, 1)))
    return gen
