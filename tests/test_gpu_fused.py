"""Multi-output fused kernels and in-place strided inputs on the GPU path (cudasim).

A fused group of ``gpuad.jit`` with k outputs is ONE kernel (a *program*: statements
computed once per element, every output written), reading only the inputs its outputs
need, and strided views (``F[:, i, j]``) are read in place with their strides rather than
copied. Exact launch counts; tiny shapes (the simulator runs every thread in Python).
"""
from __future__ import annotations

import numpy as np
import pytest

import gpuad as ad
from gpuad import kernels
from gpuad.backends import get_backend
from gpuad.jit import JitFunction, fusion
from gpuad.kernels import elementwise

pytestmark = pytest.mark.cudasim

SIM = "cudasim"


def _xp():
    return get_backend(SIM).xp


def _dev(a):
    return _xp().asarray(a)


def _steady(f):
    f()
    with ad.count_launches() as c:
        r = f()
    return c, r


def test_one_output_program_is_the_single_expression_kernel():
    assert elementwise.program_source((), ("math.sin(a0) * a1",), ("f", "b"), 2) == \
        elementwise.source("math.sin(a0) * a1", ("f", "b"), 2)
    with pytest.raises(ValueError, match="v0, v1"):
        elementwise.program_source((("t1", "a0"),), ("t1",), ("f",), 1)
    with pytest.raises(ValueError, match="at least one output"):
        elementwise.program_source((), (), ("f",), 1)


def test_program_computes_each_statement_once_and_writes_every_output():
    stmts = (("v0", "math.sin(a0)"), ("v1", "v0 * v0 + a1"), ("v2", "v0 > a1"))
    src = elementwise.program_source(stmts, ("v1", "v2", "v0"), ("f", "b"), 2)
    assert src.count("math.sin(a0)") == 2  # the header comment and the one statement
    assert "O0[i] = v1" in src and "O1[i] = v2" in src and "O2[i] = v0" in src
    x = np.linspace(-2.0, 2.0, 35).reshape(5, 7)
    y = np.linspace(0.0, 0.5, 7)
    xd, yd = _dev(x), _dev(y)
    before = kernels.stats.launches["elementwise"]
    with ad.count_launches() as c:
        o1, o2, o0 = elementwise.run_program(stmts, ("v1", "v2", "v0"), [xd, yd],
                                             (np.float64, np.bool_, np.float32), SIM)
    assert kernels.stats.launches["elementwise"] - before == 1
    assert dict(c.by_op) == {"gpuad.elementwise": 1} and c.transfers == 0
    assert (o1.dtype, o2.dtype, o0.dtype) == (np.float64, np.bool_, np.float32)
    assert o1.shape == o2.shape == o0.shape == (5, 7)
    s = np.sin(x)
    np.testing.assert_allclose(o1.get(), s * s + y, rtol=1e-15)
    np.testing.assert_array_equal(o2.get(), s > y)
    np.testing.assert_allclose(o0.get(), s.astype(np.float32), rtol=1e-7)


def test_program_writes_its_given_shape_from_smaller_inputs():
    (o,) = elementwise.run_program((("v0", "a0 * 2.0"),), ("v0",), [_dev(np.arange(3.0))],
                                   (np.float64,), SIM, (4, 3))
    np.testing.assert_array_equal(o.get(), np.broadcast_to(np.arange(3.0) * 2.0, (4, 3)))


def test_layout_of_strided_inputs():
    # F[:, 0, 1] of a (4, 3, 3) batch: element stride 9, read in place
    shape, strides, kinds = elementwise.layout((4,), [(4,), (4,)], [(9,), None])
    assert (shape, strides, kinds) == ((4,), [[9], [1]], ("b", "f"))
    # a transposed (3, 4) input over a (2, 4, 3) output broadcasts along axis 0
    shape, strides, kinds = elementwise.layout((2, 4, 3), [(4, 3)], [(1, 4)])
    assert (shape, strides, kinds) == ((2, 4, 3), [[0, 1, 4]], ("b",))
    # a contiguous slice of rows with its own strides merges like a contiguous input
    shape, strides, kinds = elementwise.layout((2, 3), [(2, 3)], [(3, 1)])
    assert (shape, strides, kinds) == ((6,), [[1]], ("f",))


def test_strided_views_are_read_in_place():
    F = np.arange(36.0).reshape(4, 3, 3) / 7.0
    Fd = _dev(F)
    a, b = Fd[:, 0, 1], Fd[:, 2, 0]  # non-contiguous views
    assert not a.flags.c_contiguous
    c, out = _steady(lambda: kernels.run_elementwise("a0 * a1 - math.sin(a0)", [a, b],
                                                     np.float64, SIM))
    assert dict(c.by_op) == {"gpuad.elementwise": 1} and c.transfers == 0
    np.testing.assert_array_equal(out.get(), F[:, 0, 1] * F[:, 2, 0] - np.sin(F[:, 0, 1]))
    # a transposed view broadcast against a column, and a view with a zero stride
    T = Fd[1].T
    col = _xp().broadcast_to(_dev(np.arange(3.0))[:, None], (3, 3))
    c, out = _steady(lambda: kernels.run_elementwise("a0 + 10.0 * a1", [T, col], np.float64,
                                                     SIM))
    assert dict(c.by_op) == {"gpuad.elementwise": 1}
    np.testing.assert_array_equal(out.get(), F[1].T + 10.0 * np.arange(3.0)[:, None])


def _group(fn, x):
    graph = JitFunction(fn).lower(x)
    groups = [s for s in fusion.partition(graph) if isinstance(s, fusion.Group)]
    return graph, groups


def test_gpu_program_reads_only_what_its_outputs_need():
    def f(x):
        a = ad.sin(x[0])
        b = ad.cos(x[1]) * a
        return a * 2.0, b + x[2]

    graph, groups = _group(f, ad.ones(3, 4))
    (g,) = groups
    lits, arrays = fusion.literal_inputs(g, graph.consts)
    assert len(g.outputs) == 2 and len(arrays) == 3 and len(lits) == 1  # 2.0 is a literal
    used, stmts, outs = fusion.gpu_program(g, graph.consts)
    assert len(used) == 3 and len(outs) == 2
    assert [s for _, s in stmts].count("math.sin(a0)") == 1  # shared: computed once
    # the first output alone reads one input and needs two statements
    used, stmts, outs = fusion.gpu_program(g, graph.consts, [g.outputs[0]])
    assert [v.id for v in used] == [arrays[0].id]
    assert len(stmts) == 2 and outs == ("v1",)
    assert stmts[1][1] == "v0 * 2.0"  # the 0-d constant is a literal


def test_jit_group_with_three_outputs_is_one_kernel():
    def f(x):
        s = ad.sin(x)
        return s * ad.cos(x), s + 1.0, ad.exp(s)

    xn = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
    jf = ad.jit(f)
    x = ad.tensor(xn, device=SIM)
    c, got = _steady(lambda: jf(x))
    assert c.launches == 1 and c.transfers == 0
    assert [n for op, n in c.by_op.items()] == [1]
    assert next(iter(c.by_op)).startswith("fused:")
    eager = f(x)
    cpu = ad.jit(f)(ad.tensor(xn))
    for g, e, r in zip(got, eager, cpu):
        assert g.device == SIM
        np.testing.assert_array_equal(g.numpy(), e.numpy())
        np.testing.assert_allclose(g.numpy(), r.numpy(), rtol=1e-14, atol=1e-15)


# one kernel: the plan is row-separable, so it runs as one row program (NOTE [row
# programs] in gpuad/jit/rowplan.py)
@pytest.mark.parametrize("method,launches", [("jacfwd", 1), ("jacrev", 1), ("hessian", 1)])
def test_jit_neohookean_launches_do_not_depend_on_the_batch(method, launches):
    from bench.workloads import neohookean as w
    T = {"jacfwd": ad.jacfwd, "jacrev": ad.jacrev, "hessian": ad.hessian}[method]
    f = ad.jit(ad.vmap(T(w.gpuad_fn(ad, SIM))))
    for B in (2, 5):
        X = w.make_input(B, 0)
        x = ad.tensor(X, device=SIM)
        c, r = _steady(lambda: f(x))
        assert c.launches == launches and c.transfers == 0
        assert not any(op.startswith("cupy.") for op in c.by_op)  # no copies
        np.testing.assert_allclose(r.numpy(), w.numpy_reference(method, X), rtol=1e-10,
                                   atol=1e-12)


def test_multi_output_programs_are_in_the_ptx_list():
    from gpuad import ptx
    progs = [(label, spec) for label, kind, spec in ptx.instances() if kind == "program"]
    labels = {label for label, _ in progs}
    for dt in ("float32", "float64"):
        assert f"ew_fused_multi_sin_mask_{dt}" in labels
        assert any(label.startswith("ew_fused_neohookean_hessian_") and label.endswith(dt)
                   for label in labels)
    assert max(len(spec[1]) for _, spec in progs) >= 9  # outputs of one kernel
    assert any("b" in spec[3] for _, spec in progs)     # a bool output


def test_multi_output_program_compiles_to_ptx():
    from gpuad import ptx
    try:
        from numba import cuda  # noqa: F401
        fn, sig = ptx._build("program", ((("v0", "math.sin(a0)"), ("v1", "v0 > a1")),
                                         ("v0", "v1"), "ff", "fb", 2, "float64"))
        codes = ptx.compile_ptx_multi(fn, sig, ("sm_80", "sm_90"))
    except Exception as e:  # no numba-cuda, no NVRTC/NVVM here
        if "nvrtc" in str(e).lower() or "nvvm" in str(e).lower():
            pytest.skip(f"PTX compilation unavailable here: {e}")
        raise
    for arch, text in zip(("sm_80", "sm_90"), codes):
        assert ".entry" in text and f".target {arch}" in text
