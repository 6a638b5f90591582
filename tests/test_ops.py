"""Every array function of API.md, driven from the op-spec table (``op_specs.py``).

For each spec: (a) the forward value against NumPy; (b) ``ad.jvp`` against central finite
differences and against ``torch.func.jvp``; (c) ``ad.vjp`` against finite differences (the
dot-product identity <ct, J v> = <J^T ct, v>) and against ``torch.func.vjp``; (d) the same
in float32 with loose tolerances; (e) the eager tape (``backward``, ``.grad`` accumulation
and reset); (f) second order, ``ad.hessian`` of the op contracted with a fixed random weight,
against ``torch.func.hessian``; (g) ``ad.vmap`` against a Python loop over the batch.

Torch is the oracle, in float64 throughout. The tiny pointwise and reduction cases also run
on ``cudasim`` (the CUDA kernels in Numba's simulator) and must agree with ``cpu``.
"""
from __future__ import annotations

import re
import zlib

import numpy as np
import pytest
import torch

import gpuad as ad

try:
    from . import op_specs as S
except ImportError:
    import op_specs as S

torch.set_default_dtype(torch.float64)

DEVICES = ["cpu", pytest.param("cudasim", marks=pytest.mark.cudasim)]
# the cudasim cases of the quick profile: one of each kind (pointwise unary and binary with
# broadcasting, where, an operator, reductions over axes and all, a scan)
SIM_QUICK = S.SIM32

EPS = 1e-6  # central-difference step (float64)
RTOL_TORCH = 1e-10
RTOL_FD = 1e-6


def op_of(spec):
    """The array function (or operator) a spec exercises: its name up to the first ``[`` or
    ``(``, e.g. ``linalg.svd`` for ``linalg.svd[4,3]u2``, ``sin.method`` for the method form."""
    return re.split(r"[\[(]", spec.name, maxsplit=1)[0]


def cases(specs, sim=True, quick="per_op", quick_sim=None):
    """(spec, device) pairs: every spec on cpu; the tiny pointwise/reduction ones also on
    cudasim (``sim=True``), or only those of the collection ``sim``.

    Test profiles (tests/conftest.py): the quick default runs, for each test (each check:
    value, jvp, vjp, ...), one representative case per op -- the op's first spec in the
    table, on cpu -- and marks the others ``slow`` (other shapes, axes, sizes and modes of
    the same op; ``GPUAD_TEST_PROFILE=full`` runs them). ``quick`` may instead be a
    collection of specs: exactly those are quick, on each of their devices. With
    ``"per_op"`` the quick cudasim cases are those of ``quick_sim`` (default ``SIM_QUICK``:
    the simulator runs one Python thread per element, so it gets a handful of them)."""
    out, seen = [], set()
    for s in specs:
        if quick == "per_op":
            fast_cpu, fast_sim = op_of(s) not in seen, s in (SIM_QUICK if quick_sim is None else quick_sim)
        else:
            fast_cpu = fast_sim = s in quick
        seen.add(op_of(s))
        for dev in DEVICES:
            name, marks = (dev, ()) if isinstance(dev, str) else (dev.values[0], dev.marks)
            on_sim = (sim is True and s.sim) or (not isinstance(sim, bool) and s in sim)
            if name != "cpu" and not on_sim:
                continue
            fast = fast_cpu if name == "cpu" else fast_sim
            marks = tuple(marks) + (() if fast else (pytest.mark.slow,))
            out.append(pytest.param(s, name, marks=marks, id=f"{s.name}-{name}"))
    return out


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
def rng_for(spec, salt=""):
    return np.random.default_rng(zlib.crc32((spec.name + salt).encode()))


def cast(args, dtype):
    return [a.astype(dtype) if np.issubdtype(np.asarray(a).dtype, np.floating) else a
            for a in map(np.asarray, args)]


def T(a, device):
    return ad.tensor(np.asarray(a), device=device)


def N(t):
    assert isinstance(t, ad.Tensor), f"expected an ad.Tensor, got {type(t).__name__}"
    return np.asarray(t.numpy())


def close(got, want, rtol, atol_rel=None, what=""):
    want = np.asarray(want, dtype=np.float64)
    got = np.asarray(got)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != expected {want.shape}"
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=rtol,
                               atol=(rtol if atol_rel is None else atol_rel) * scale, err_msg=what)


def split(spec, full):
    """``g(*diff_args)`` = ``spec.fn`` with the non-differentiable arguments fixed."""

    def g(*d):
        f = list(full)
        for i, v in zip(spec.diff, d):
            f[i] = v
        return spec.fn(*f)

    return g


def torch_split(spec, args):
    targs = [torch.as_tensor(np.asarray(a)) for a in args]
    targs = [t.to(torch.float64) if t.is_floating_point() else t for t in targs]

    def g(*d):
        f = list(targs)
        for i, v in zip(spec.diff, d):
            f[i] = v
        return spec.torch_fn(*f)

    return g, tuple(targs[i] for i in spec.diff)


def fd_jvp(spec, args, tangents, eps=EPS):
    plus, minus = list(args), list(args)
    for i, t in zip(spec.diff, tangents):
        plus[i] = args[i] + eps * t
        minus[i] = args[i] - eps * t
    return (np.asarray(spec.np_fn(*plus), np.float64) - np.asarray(spec.np_fn(*minus), np.float64)) / (2 * eps)


def draw(spec, salt=""):
    rng = rng_for(spec, salt)
    args = [np.asarray(a) for a in spec.make(rng)]
    tangents = [rng.standard_normal(args[i].shape) for i in spec.diff]
    out_shape = np.shape(spec.np_fn(*args))
    ct = rng.standard_normal(out_shape)
    return args, tangents, ct


# ---------------------------------------------------------------------------------------
# (a) forward value
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec,device", cases(S.ALL))
def test_forward(spec, device):
    args, _, _ = draw(spec)
    out = spec.fn(*[T(a, device) for a in args])
    want = np.asarray(spec.np_fn(*args))
    assert isinstance(out, ad.Tensor)
    assert out.shape == want.shape
    assert out.dtype == np.float64
    assert out.device == device
    close(N(out), want, 1e-12, what=f"{spec.name} value")
    if device != "cpu":
        close(N(out), N(spec.fn(*[T(a, "cpu") for a in args])), 1e-12, what="vs cpu")


# ---------------------------------------------------------------------------------------
# (b) JVP: finite differences and torch.func.jvp
# ---------------------------------------------------------------------------------------
def _jvp(spec, args, tangents, device):
    full = [T(a, device) for a in args]
    res = ad.jvp(split(spec, full), tuple(full[i] for i in spec.diff), tuple(T(t, device) for t in tangents))
    assert isinstance(res, tuple) and len(res) == 2, "jvp returns (out, tangent_out)"
    return N(res[0]), N(res[1])


@pytest.mark.parametrize("spec,device", cases(S.ALL))
def test_jvp(spec, device):
    args, tangents, _ = draw(spec)
    out, tout = _jvp(spec, args, tangents, device)
    close(out, spec.np_fn(*args), 1e-12, what="jvp primal out")
    close(tout, fd_jvp(spec, args, tangents), RTOL_FD, what="jvp vs finite differences")
    tg, tprimals = torch_split(spec, args)
    _, tref = torch.func.jvp(tg, tprimals, tuple(torch.as_tensor(t) for t in tangents))
    close(tout, tref.numpy(), RTOL_TORCH, 1e-12, what="jvp vs torch.func.jvp")
    if device != "cpu":
        close(tout, _jvp(spec, args, tangents, "cpu")[1], 1e-12, what="jvp vs cpu")


# ---------------------------------------------------------------------------------------
# (c) VJP: finite differences (dot-product identity) and torch.func.vjp
# ---------------------------------------------------------------------------------------
def _vjp(spec, args, ct, device):
    full = [T(a, device) for a in args]
    res = ad.vjp(split(spec, full), *(full[i] for i in spec.diff))
    assert isinstance(res, tuple) and len(res) == 2, "vjp returns (out, vjp_fn)"
    out, vjp_fn = res
    cts = vjp_fn(T(ct, device))
    assert isinstance(cts, tuple) and len(cts) == len(spec.diff), "vjp_fn returns one entry per primal"
    return N(out), [N(c) for c in cts]


@pytest.mark.parametrize("spec,device", cases(S.ALL))
def test_vjp(spec, device):
    args, tangents, ct = draw(spec)
    out, cts = _vjp(spec, args, ct, device)
    close(out, spec.np_fn(*args), 1e-12, what="vjp primal out")
    for i, c in zip(spec.diff, cts):
        assert c.shape == args[i].shape, f"cotangent of arg {i}: shape {c.shape} != input shape {args[i].shape}"
    # <ct, J v> (finite differences) == <J^T ct, v>
    jv = fd_jvp(spec, args, tangents)
    lhs = float(np.sum(ct * jv))
    rhs = float(sum(np.sum(c * t) for c, t in zip(cts, tangents)))
    tol = RTOL_FD * (np.linalg.norm(ct) * np.linalg.norm(jv) + 1.0)
    assert abs(lhs - rhs) <= tol + RTOL_FD * abs(lhs), f"<ct, Jv> = {lhs} but <vjp(ct), v> = {rhs}"
    tg, tprimals = torch_split(spec, args)
    _, tvjp = torch.func.vjp(tg, *tprimals)
    for k, (c, r) in enumerate(zip(cts, tvjp(torch.as_tensor(ct)))):
        close(c, r.numpy(), RTOL_TORCH, 1e-12, what=f"vjp arg {spec.diff[k]} vs torch.func.vjp")
    if device != "cpu":
        for c, r in zip(cts, _vjp(spec, args, ct, "cpu")[1]):
            close(c, r, 1e-12, what="vjp vs cpu")


# ---------------------------------------------------------------------------------------
# (d) float32: value, JVP and VJP with loose tolerances; dtypes are kept
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec,device", cases(S.ALL, sim=S.SIM32, quick=S.SIM32))  # quick: a handful
def test_float32(spec, device):
    args, tangents, ct = draw(spec, "f32")
    args32 = cast(args, np.float32)
    args64 = cast(args32, np.float64)  # the same values, for the float64 oracle
    tan32 = cast(tangents, np.float32)
    ct32 = np.asarray(ct, np.float32)
    tol = spec.rtol32
    full = [T(a, device) for a in args32]
    for i in spec.diff:
        assert full[i].dtype == np.float32, "ad.tensor keeps a float32 array's dtype"
    out = spec.fn(*full)
    assert out.dtype == np.float32, f"{spec.name} of float32 gives {out.dtype}"
    close(N(out), spec.np_fn(*args64), tol, what="float32 value")

    tg, tprimals = torch_split(spec, args64)
    _, tj = torch.func.jvp(tg, tprimals, tuple(torch.as_tensor(t.astype(np.float64)) for t in tan32))
    o, to = ad.jvp(split(spec, full), tuple(full[i] for i in spec.diff), tuple(T(t, device) for t in tan32))
    assert to.dtype == np.float32
    close(N(to), tj.numpy(), tol, what="float32 jvp")

    _, tvjp = torch.func.vjp(tg, *tprimals)
    o, vjp_fn = ad.vjp(split(spec, full), *(full[i] for i in spec.diff))
    cts = vjp_fn(T(ct32, device))
    for c, r in zip(cts, tvjp(torch.as_tensor(ct32.astype(np.float64)))):
        assert c.dtype == np.float32
        close(N(c), r.numpy(), tol, what="float32 vjp")
    if device != "cpu":
        cpu = [T(a, "cpu") for a in args32]
        close(N(out), N(spec.fn(*cpu)), 1e-6, what="float32 value vs cpu")
        _, vjp_cpu = ad.vjp(split(spec, cpu), *(cpu[i] for i in spec.diff))
        for c, r in zip(cts, vjp_cpu(T(ct32, "cpu"))):
            close(N(c), N(r), 1e-6, what="float32 vjp vs cpu")


# ---------------------------------------------------------------------------------------
# (e) eager tape: backward(ct) == vjp; .grad accumulates; x.grad = None resets
# ---------------------------------------------------------------------------------------
# test_vjp covers every rule on cudasim; the quick profile's tape on cudasim: test_eager_tape_details
@pytest.mark.parametrize("spec,device", cases(S.ALL, sim=S.SIM32, quick_sim=()))
def test_eager_tape(spec, device):
    args, _, ct = draw(spec)
    tg, tprimals = torch_split(spec, args)
    want = [r.numpy() for r in torch.func.vjp(tg, *tprimals)[1](torch.as_tensor(ct))]

    leaves = [ad.tensor(a, device=device, requires_grad=(i in spec.diff)) for i, a in enumerate(args)]
    for i in spec.diff:
        assert leaves[i].requires_grad and leaves[i].grad is None

    y = spec.fn(*leaves)
    y.backward(T(ct, device))  # a tensor cotangent
    for k, i in enumerate(spec.diff):
        close(N(leaves[i].grad), want[k], RTOL_TORCH, 1e-12, what=f"grad of arg {i} after one backward")
        assert leaves[i].grad.shape == args[i].shape
    for i in set(range(len(args))) - set(spec.diff):
        assert leaves[i].grad is None, "a leaf without requires_grad gets no .grad"

    spec.fn(*leaves).backward(np.asarray(ct))  # an array cotangent; accumulates
    for k, i in enumerate(spec.diff):
        close(N(leaves[i].grad), 2 * want[k], RTOL_TORCH, 1e-12, what=f"grad of arg {i} after two backwards")

    for i in spec.diff:
        leaves[i].grad = None
    w = T(ct, device)
    z = ad.sum(spec.fn(*leaves) * w)  # scalar: backward() needs no cotangent
    assert z.shape == ()
    z.backward()
    for k, i in enumerate(spec.diff):
        close(N(leaves[i].grad), want[k], RTOL_TORCH, 1e-12, what=f"grad of arg {i} after reset")


# ---------------------------------------------------------------------------------------
# (f) second order: hessian of the op contracted with a fixed weight vs torch.func.hessian
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec,device", cases(S.HESS, sim=False))
def test_hessian(spec, device):
    args, _, w = draw(spec, "hess")
    full = [T(a, device) for a in args]
    g = split(spec, full)
    wt = T(w, device)
    argnums = 0 if len(spec.diff) == 1 else tuple(range(len(spec.diff)))

    def h(*d):
        return ad.sum(g(*d) * wt)

    tg, tprimals = torch_split(spec, args)
    tw = torch.as_tensor(w)
    ref = torch.func.hessian(lambda *d: torch.sum(tg(*d) * tw), argnums=argnums)(*tprimals)
    got = ad.hessian(h, argnums=argnums)(*(full[i] for i in spec.diff))
    if isinstance(argnums, int):
        close(N(got), ref.numpy(), RTOL_TORCH, 1e-10, what="hessian")
    else:
        assert isinstance(got, tuple) and len(got) == len(argnums)
        for gr, rr in zip(got, ref):
            assert isinstance(gr, tuple) and len(gr) == len(argnums)
            for a, b in zip(gr, rr):
                close(N(a), b.numpy(), RTOL_TORCH, 1e-10, what="hessian block")
    # hessian == jacfwd(jacrev(.)) (API.md)
    got2 = ad.jacfwd(ad.jacrev(h, argnums=0), argnums=0)(*(full[i] for i in spec.diff))
    ref00 = ref if isinstance(argnums, int) else ref[0][0]
    close(N(got2), ref00.numpy(), RTOL_TORCH, 1e-10, what="jacfwd(jacrev)")


# ---------------------------------------------------------------------------------------
# (g) vmap over a batch of 3 == a Python loop
# ---------------------------------------------------------------------------------------
B = 3


@pytest.mark.parametrize("spec,device", cases(S.VMAP, sim=False))
def test_vmap(spec, device):
    rng = rng_for(spec, "vmap")
    draws = [[np.asarray(a) for a in spec.make(rng)] for _ in range(B)]
    n = len(draws[0])
    diff = set(spec.diff)
    in_dims = tuple(0 if i in diff else None for i in range(n))
    batched = [T(np.stack([d[i] for d in draws]) if i in diff else draws[0][i], device) for i in range(n)]
    out = ad.vmap(spec.fn, in_dims=in_dims)(*batched)
    loop = [N(spec.fn(*[T(d[i] if i in diff else draws[0][i], device) for i in range(n)])) for d in draws]
    close(N(out), np.stack(loop), 1e-12, what="vmap vs loop")
    # numpy reference too, so that a wrong loop result cannot hide a wrong vmap
    close(N(out), np.stack([spec.np_fn(*[d[i] if i in diff else draws[0][i] for i in range(n)])
                            for d in draws]), 1e-12, what="vmap vs numpy")
    # the batch dimension last (in_dims=-1) and the output batched last (out_dims=-1)
    last = [T(np.stack([d[i] for d in draws], axis=-1) if i in diff else draws[0][i], device) for i in range(n)]
    in_last = tuple(-1 if i in diff else None for i in range(n))
    out2 = ad.vmap(spec.fn, in_dims=in_last, out_dims=-1)(*last)
    close(N(out2), np.moveaxis(np.stack(loop), 0, -1), 1e-12, what="vmap in_dims=-1, out_dims=-1")
    # only the first (then only the last) differentiable argument batched: the others are unbatched
    for only in (spec.diff[0], spec.diff[-1]) if len(spec.diff) >= 2 else ():
        mixed = [batched[i] if i == only else T(draws[0][i], device) for i in range(n)]
        in_mixed = tuple(0 if i == only else None for i in range(n))
        out3 = ad.vmap(spec.fn, in_dims=in_mixed)(*mixed)
        want3 = np.stack([spec.np_fn(*[d[i] if i == only else draws[0][i] for i in range(n)]) for d in draws])
        close(N(out3), want3, 1e-12, what=f"vmap with only argument {only} batched")


# ---------------------------------------------------------------------------------------
# Jacobians: jacfwd and jacrev (and vmap(jacrev) over a batch of 2) vs torch.func.jacfwd
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec,device", cases(S.ALL, sim=False))
def test_jacobians(spec, device):
    args, _, _ = draw(spec, "jac")
    full = [T(a, device) for a in args]
    g = split(spec, full)
    argnums = 0 if len(spec.diff) == 1 else tuple(range(len(spec.diff)))
    tg, tprimals = torch_split(spec, args)
    ref = torch.func.jacfwd(tg, argnums=argnums)(*tprimals)  # (torch.func.jacrev fails on broadcast solve)
    ref = (ref,) if isinstance(argnums, int) else ref
    prim = [full[i] for i in spec.diff]
    for name, jac in [("jacfwd", ad.jacfwd), ("jacrev", ad.jacrev)]:
        got = jac(g, argnums=argnums)(*prim)
        got = (got,) if isinstance(argnums, int) else got
        assert isinstance(got, tuple) and len(got) == len(ref), name
        for k, (a, b) in enumerate(zip(got, ref)):
            close(N(a), b.numpy(), RTOL_TORCH, 1e-12, what=f"{name} wrt arg {spec.diff[k]}")
    if spec.vmap:  # per-example Jacobians
        rng = rng_for(spec, "vjac")
        draws = [[np.asarray(a) for a in spec.make(rng)] for _ in range(2)]
        diff = set(spec.diff)
        batched = [T(np.stack([d[i] for d in draws]) if i in diff else args[i], device) for i in range(len(args))]

        def per_example(*d):
            return ad.jacrev(lambda *e: spec.fn(*[e[spec.diff.index(i)] if i in diff else batched[i]
                                                  for i in range(len(args))]), argnums=0)(*d)

        got = ad.vmap(per_example)(*[batched[i] for i in spec.diff])
        for b, d in enumerate(draws):
            tg1, tp1 = torch_split(spec, [d[i] if i in diff else args[i] for i in range(len(args))])
            want = torch.func.jacfwd(tg1, argnums=0)(*tp1)
            close(N(got)[b], want.numpy(), RTOL_TORCH, 1e-12, what=f"vmap(jacrev) example {b}")


# ---------------------------------------------------------------------------------------
# non-contiguous inputs (Fortran order, strided views) give the same value and vjp
# ---------------------------------------------------------------------------------------
def noncontig(a):
    a = np.asarray(a)
    if a.ndim >= 2:
        return np.asfortranarray(a)
    if a.ndim == 1 and a.size > 1:
        b = np.zeros(2 * a.size, a.dtype)
        b[::2] = a
        return b[::2]
    return a


@pytest.mark.parametrize("spec,device", cases(S.ALL, sim=S.SIM32, quick_sim=S.SIM32[:3]))  # quick: 3 on cudasim
def test_noncontiguous_inputs(spec, device):
    args, _, ct = draw(spec, "nc")
    nc = [noncontig(a) for a in args]
    out, cts = _vjp(spec, nc, ct, device)
    close(out, spec.np_fn(*args), 1e-12, what="value of non-contiguous inputs")
    _, want = _vjp(spec, args, ct, "cpu")
    for c, w in zip(cts, want):
        close(c, w, 1e-12, what="vjp of non-contiguous inputs")


# ---------------------------------------------------------------------------------------
# transforms take NumPy arrays and Python floats as inputs and return ad.Tensor
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_transform_inputs_numpy_and_float(device):
    ad.set_default_device(device) if device != "cpu" else None
    try:
        x = np.array([0.3, -1.2, 2.0])
        out, tout = ad.jvp(ad.sin, (x,), (np.ones(3),))
        assert isinstance(out, ad.Tensor) and isinstance(tout, ad.Tensor)
        close(N(tout), np.cos(x), 1e-14)
        out, tout = ad.jvp(lambda t: t * t, (1.5,), (1.0,))
        assert isinstance(tout, ad.Tensor)
        close(N(tout), 3.0, 1e-14)
        out, vjp_fn = ad.vjp(lambda a, b: a * ad.exp(b), x, 0.5)
        ga, gb = vjp_fn(np.ones(3))
        assert isinstance(ga, ad.Tensor) and isinstance(gb, ad.Tensor) and gb.shape == ()
        close(N(ga), np.full(3, np.exp(0.5)), 1e-14)
        close(N(gb), np.sum(x) * np.exp(0.5), 1e-14)
        g = ad.grad(lambda t: ad.sum(ad.sin(t)))(x)
        close(N(g), np.cos(x), 1e-14)
        close(N(ad.grad(lambda t: t ** 3)(2.0)), 12.0, 1e-14)
        close(N(ad.jacfwd(ad.sin)(x)), np.diag(np.cos(x)), 1e-14)
        close(N(ad.jacrev(ad.sin)(x)), np.diag(np.cos(x)), 1e-14)
    finally:
        ad.set_default_device("cpu") if device != "cpu" else None


# ---------------------------------------------------------------------------------------
# eager tape details: detach, no_grad, requires_grad_, a leaf used twice, two graphs
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_eager_tape_details(device):
    xv = np.array([0.5, -1.0, 2.0])
    x = ad.tensor(xv, device=device, requires_grad=True)
    # a leaf used twice in one expression: contributions add
    (ad.sum(x * x) + ad.sum(ad.sin(x))).backward()
    close(N(x.grad), 2 * xv + np.cos(xv), 1e-14, what="x*x + sin x")
    # a second graph accumulates into the same .grad
    ad.sum(3.0 * x).backward()
    close(N(x.grad), 2 * xv + np.cos(xv) + 3.0, 1e-14, what="accumulated")
    x.grad = None
    # detach() cuts the graph
    ad.sum(x * x.detach()).backward()
    close(N(x.grad), xv, 1e-14, what="detach")
    x.grad = None
    # values computed under no_grad are constants
    with ad.no_grad():
        c = x * 2.0
    ad.sum(c * x).backward()
    close(N(x.grad), 2 * xv, 1e-14, what="no_grad")
    # requires_grad_() on a plain tensor makes it a leaf
    y = ad.tensor(xv, device=device)
    assert not y.requires_grad
    y.requires_grad_()
    assert y.requires_grad
    ad.sum(ad.exp(y)).backward()
    close(N(y.grad), np.exp(xv), 1e-14, what="requires_grad_()")
    # a non-scalar output with a cotangent reaches two leaves through broadcasting
    a = ad.tensor(np.ones((3, 1)), device=device, requires_grad=True)
    b = ad.tensor(np.arange(4.0), device=device, requires_grad=True)
    (a * b).backward(np.ones((3, 4)))
    close(N(a.grad), np.full((3, 1), 6.0), 1e-14, what="broadcast grad a")
    close(N(b.grad), np.full(4, 3.0), 1e-14, what="broadcast grad b")


# ---------------------------------------------------------------------------------------
# third order: grad(grad(grad(f))) of each pointwise function at a scalar, vs torch
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES[:1])
@pytest.mark.parametrize("name,np_f,t_f,dom", S.UNARY, ids=[u[0] for u in S.UNARY])
def test_third_order_unary(name, np_f, t_f, dom, device):
    x0 = float(dom(())(np.random.default_rng(zlib.crc32(name.encode()))))
    f = getattr(ad, name)
    got = ad.grad(ad.grad(ad.grad(f)))(T(x0, device))
    tx = torch.tensor(x0, dtype=torch.float64)
    want = torch.func.grad(torch.func.grad(torch.func.grad(t_f)))(tx)
    close(N(got), want.numpy(), 1e-9, 1e-10, what=f"third derivative of {name}")
    # and forward-over-forward-over-reverse on a vector
    x = dom((4,))(np.random.default_rng(1))
    g3 = ad.jacfwd(ad.jacfwd(ad.grad(lambda t: ad.sum(f(t)))))(T(x, device))
    w3 = torch.func.jacfwd(torch.func.jacfwd(torch.func.grad(lambda t: t_f(t).sum())))(torch.as_tensor(x))
    close(N(g3), w3.numpy(), 1e-9, 1e-10, what=f"jacfwd(jacfwd(grad)) of {name}")


# ---------------------------------------------------------------------------------------
# vmap with batched integer indices (gather with a batch of index arrays) and batched
# conditions, and their reverse rules (scatter-add per example)
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES[:1])
@pytest.mark.parametrize("case", ["getitem", "getitem_2d", "getitem_ellipsis", "getitem_slice_idx", "take",
                                  "take_axis1", "where_cond"])
def test_vmap_batched_indices(case, device):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((3, 5, 4))
    I = rng.integers(-5, 5, size=(3, 6))
    C = rng.random((3, 5, 4)) > 0.5
    fns = {
        "getitem": (lambda x, i: x[i], lambda x, i: x[i], (X, I % 5)),
        "getitem_2d": (lambda x, i: x[:, i], lambda x, i: x[:, i], (X, I % 4)),
        "getitem_ellipsis": (lambda x, i: x[..., i], lambda x, i: x[..., i], (X, I % 4)),
        "getitem_slice_idx": (lambda x, i: x[1:, i], lambda x, i: x[1:, i], (X, I % 4)),
        "take": (lambda x, i: ad.take(ad.reshape(x, (-1,)), i), lambda x, i: np.take(x.reshape(-1), i), (X, I % 20)),
        "take_axis1": (lambda x, i: ad.take(x, i, axis=1), lambda x, i: np.take(x, i, axis=1), (X, I % 4)),
        "where_cond": (lambda x, c: ad.where(c, x, -2.0 * x), lambda x, c: np.where(c, x, -2.0 * x), (X, C)),
    }
    f, npf, (xb, ib) = fns[case]
    out = ad.vmap(f)(T(xb, device), T(ib, device))
    close(N(out), np.stack([npf(x, i) for x, i in zip(xb, ib)]), 1e-14, what="vmap value")
    # per-example gradients: vmap(grad) with the index batched too
    ct = rng.standard_normal(out.shape)
    g = ad.vmap(ad.grad(lambda x, i, c: ad.sum(f(x, i) * c)))(T(xb, device), T(ib, device), T(ct, device))
    for b in range(3):
        tx = torch.tensor(xb[b], requires_grad=True)
        if case == "where_cond":
            ty = torch.where(torch.as_tensor(ib[b]), tx, -2.0 * tx)
        elif case in ("take",):
            ty = tx.reshape(-1)[torch.as_tensor(ib[b])]
        elif case in ("getitem_2d", "take_axis1", "getitem_ellipsis"):
            ty = tx[:, torch.as_tensor(ib[b])]
        elif case == "getitem_slice_idx":
            ty = tx[1:, torch.as_tensor(ib[b])]
        else:
            ty = tx[torch.as_tensor(ib[b])]
        (ty * torch.as_tensor(ct[b])).sum().backward()
        close(N(g)[b], tx.grad.numpy(), 1e-14, what=f"per-example grad {b}")


# ---------------------------------------------------------------------------------------
# derivatives at singular / tie points follow the torch oracle's conventions (a NaN here
# poisons a whole physics computation: the norm of a zero vector, the std of a constant)
# ---------------------------------------------------------------------------------------
SINGULAR = {
    "norm_at_zero": (lambda t: ad.linalg.norm(t), lambda t: torch.linalg.norm(t), np.zeros(3)),
    "norm_rows_one_zero": (lambda t: ad.sum(ad.linalg.norm(t, axis=-1)),
                           lambda t: torch.linalg.norm(t, dim=-1).sum(), np.array([[0.0, 0.0], [3.0, 4.0]])),
    "std_of_constant": (lambda t: ad.std(t), lambda t: torch.std(t, correction=0), np.ones(3)),
    "var_of_constant": (lambda t: ad.var(t), lambda t: torch.var(t, correction=0), np.ones(3)),
    "pow_zero_exponent_at_zero": (lambda t: ad.sum(t ** 0.0), lambda t: (t ** 0.0).sum(), np.zeros(2)),
    "pow_fn_zero_exponent_at_zero": (lambda t: ad.sum(ad.pow(t, 0.0)), lambda t: torch.pow(t, 0.0).sum(),
                                     np.array([0.0, 2.0])),
    "clip_at_bounds": (lambda t: ad.sum(ad.clip(t, 0.0, 1.0)), lambda t: torch.clip(t, 0.0, 1.0).sum(),
                       np.array([0.0, 1.0, 0.5])),
    "abs_at_zero": (lambda t: ad.sum(ad.abs(t)), lambda t: torch.abs(t).sum(), np.zeros(2)),
    "maximum_tie": (lambda t: ad.sum(ad.maximum(t, 1.0 + 0.0 * t)),
                    lambda t: torch.maximum(t, 1.0 + 0.0 * t).sum(), np.ones(2)),
    "max_tie": (lambda t: ad.max(t), lambda t: torch.amax(t), np.array([1.0, 1.0, 0.0])),
    "prod_with_a_zero": (lambda t: ad.prod(t), lambda t: torch.prod(t), np.array([0.0, 2.0, 3.0])),
    "prod_with_two_zeros": (lambda t: ad.prod(t), lambda t: torch.prod(t), np.array([0.0, 0.0, 3.0])),
    "prod_axis_with_a_zero": (lambda t: ad.sum(ad.prod(t, axis=1)), lambda t: torch.prod(t, 1).sum(),
                              np.array([[0.0, 2.0], [3.0, 4.0]])),
    "det_of_singular": (lambda t: ad.linalg.det(t), lambda t: torch.linalg.det(t), np.array([[1.0, 2.0], [2.0, 4.0]])),
}


XFAIL_SINGULAR = {}  # known gpuad bugs (none open)


@pytest.mark.parametrize("device", DEVICES[:1])
@pytest.mark.parametrize("case", [
    pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=XFAIL_SINGULAR[c])) if c in XFAIL_SINGULAR else c
    for c in sorted(SINGULAR)])
def test_singular_points_match_torch(case, device):
    f, tf, x = SINGULAR[case]
    want = torch.func.grad(tf)(torch.as_tensor(x)).numpy()
    g = N(ad.grad(f)(T(x, device)))
    np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-12, err_msg=f"grad at a singular point ({case})")
    tan = np.random.default_rng(3).standard_normal(x.shape)
    _, tj = ad.jvp(f, (T(x, device),), (T(tan, device),))
    # The JVP must agree with the gradient: <grad, tangent>. (torch.func's forward-mode
    # det rule returns 0 at a singular matrix although its grad is the adjugate, so
    # torch's own jvp is not the reference here.)
    np.testing.assert_allclose(N(tj), np.sum(want * tan), rtol=1e-12, atol=1e-12, err_msg=f"jvp ({case})")
    if case != "det_of_singular":
        _, tref = torch.func.jvp(tf, (torch.as_tensor(x),), (torch.as_tensor(tan),))
        np.testing.assert_allclose(N(tj), tref.numpy(), rtol=1e-12, atol=1e-12, err_msg=f"jvp ({case})")
