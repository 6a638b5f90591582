"""jit's graph rewrites and cpu code generation: static scatters become fusable
selects, loops are collapsed, basis vectors are folded into unrolled code, the parallel
driver agrees with the serial body, and reused buffers never alias results."""
import numba
import numpy as np
import pytest

import gpuad as ad
from bench.workloads import neohookean
from gpuad.jit import codegen_cpu
from gpuad.jit.plan import GroupStep


energy = neohookean.gpuad_fn(ad)  # W(F) through 3x3 component reads


@pytest.fixture
def fused_groups(monkeypatch):
    """Small calls run as one cpu row program (NOTE [cpu row programs] in gpuad.jit.plan);
    the tests that inspect the fused groups' code generator stand in for large calls."""
    import sys
    monkeypatch.setattr(sys.modules["gpuad.jit.plan"], "_CPU_ROW_PROGRAMS", False)


@pytest.fixture
def F(rng):
    return ad.tensor(np.eye(3) + 0.1 * rng.normal(size=(6, 3, 3)))


@pytest.mark.parametrize("transform", [ad.jacrev, ad.jacfwd, ad.hessian])
def test_component_indexing_jacobians_match_eager(transform, F):
    g = ad.vmap(transform(energy))
    np.testing.assert_allclose(ad.jit(g)(F).numpy(), g(F).numpy(), rtol=1e-12, atol=1e-12)


def test_static_scatters_are_rewritten_and_fused(F):
    jg = ad.jit(ad.vmap(ad.jacrev(energy)))
    graph = jg.lower(F)
    assert "scatter_add" not in {e.prim.name for e in graph.eqns}
    jg(F)
    with ad.count_launches() as c:
        jg(F)
    assert "scatter_add" not in c.by_op
    # the 9 component reads stay gathers; all the arithmetic is in three fused kernels
    assert sum(n for op, n in c.by_op.items() if op.startswith("fused:")) <= 3, c.by_op


def test_array_index_scatters_are_kept(rng):
    # an integer-array index may repeat: that scatter accumulates and is not a select
    f = lambda x: ad.sum(x[np.array([0, 2, 2])] ** 2)
    x = ad.tensor(rng.normal(size=4))
    jg = ad.jit(ad.grad(f))
    assert "scatter_add" in {e.prim.name for e in jg.lower(x).eqns}
    np.testing.assert_allclose(jg(x).numpy(), ad.grad(f)(x).numpy(), rtol=1e-14)


@pytest.mark.parametrize("shape,ins,loop,loop_ins", [
    ((7, 9, 1, 3, 3), [(7, 9, 1, 1, 1), (1, 1, 1, 3, 3)], (63, 9), [(63, 1), (1, 9)]),
    ((7, 9, 3), [(7, 1, 1), (1, 9, 3)], (7, 27), [(7, 1), (1, 27)]),
    ((5, 4), [(5, 4), (5, 4)], (20,), [(20,), (20,)]),
    ((5, 4, 3), [(4, 3), (5, 1, 1)], (5, 12), [(1, 12), (5, 1)]),
    ((1, 1), [(1,)], (1,), [(1,)]),
    ((), [()], (1,), [(1,)]),
])
def test_collapse_merges_axes_that_broadcast_alike(shape, ins, loop, loop_ins):
    assert codegen_cpu.collapse(shape, ins) == (loop, loop_ins)


def test_identity_basis_is_folded_into_the_kernel(rng, fused_groups):
    # jacfwd of a pointwise f: the basis is eye(n); folded, no kernel multiplies by it
    jg = ad.jit(ad.vmap(ad.jacfwd(lambda x: ad.sin(x) * x)))
    x = ad.tensor(rng.normal(size=(10, 4)))
    np.testing.assert_allclose(jg(x).numpy(), ad.vmap(ad.jacfwd(lambda x: ad.sin(x) * x))(x).numpy(),
                               rtol=1e-14)
    plan = next(iter(jg._cache.values()))[0]
    groups = [s for s in plan.steps if isinstance(s, GroupStep)]
    srcs = [open(st.module.__file__).read() for st in groups]
    assert any("q0[i0, 3, 3] = " in s for s in srcs)        # unrolled, one store per entry
    assert any("q0[i0, 0, 1] = 0.0" in s for s in srcs)     # an off-diagonal zero, folded


def test_structural_zeros_are_zero_under_jit(rng):
    # NOTE [jit folds constant zeros]: eager jacfwd multiplies the basis by an infinite
    # partial (0 * inf = nan off the diagonal); jit folds the zero, as a symbolic zero does
    x = ad.tensor(np.array([0.0, 1.0, 4.0]))
    f = lambda x: 2.0 * ad.sqrt(x) + x
    with np.errstate(invalid="ignore"):
        eager = ad.jacfwd(f)(x).numpy()
        jf = ad.jit(ad.jacfwd(f))
        jf(x)                     # the tracing call computes eagerly
        J = jf(x).numpy()
    assert np.isnan(eager[0, 1])
    np.testing.assert_array_equal(np.diag(J), [np.inf, 2.0, 1.5])
    assert (J[~np.eye(3, dtype=bool)] == 0).all()


def test_parallel_driver_matches_serial_body(rng, monkeypatch):
    jit_mod = __import__("sys").modules["gpuad.jit.plan"]
    monkeypatch.setattr(jit_mod, "_PARALLEL_MIN", 1)
    g = ad.vmap(ad.jacfwd(lambda x: ad.tanh(x) * ad.exp(x) + x * ad.sum(x)))
    x = ad.tensor(rng.normal(size=(37, 5)))
    before = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        out = ad.jit(g)(x)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_allclose(out.numpy(), g(x).numpy(), rtol=1e-13)


def test_reused_buffers_never_alias_results(rng):
    # intermediates are pooled between calls (NOTE [jit buffer pool]); outputs, and
    # views of intermediates that are returned, must survive the next call
    def f(x):
        y = ad.sin(x) * 2.0
        return y.reshape(-1), ad.exp(y) + 1.0
    jf = ad.jit(f)
    x1, x2 = (ad.tensor(rng.normal(size=(8, 3))) for _ in range(2))
    jf(x1)                      # traces
    r1 = jf(x1)                 # compiled, fills the pool
    a1, b1 = (t.numpy().copy() for t in r1)
    jf(x2)                      # reuses the pooled buffers
    np.testing.assert_array_equal(r1[0].numpy(), a1)
    np.testing.assert_array_equal(r1[1].numpy(), b1)
    jf.clear_cache()
    assert jf.cache_info() == []


def test_identity_basis_through_a_contraction_becomes_pointwise(rng):
    # jacfwd of g(log(y) @ R): the basis eye * (1/y) meets the matrix R; the einsum
    # contracts the identity away and becomes a fusable broadcast multiply
    R = ad.tensor(rng.normal(size=(5, 7)))
    N = ad.tensor(rng.normal(size=(7, 5)))
    f = lambda y: ad.exp(ad.log(y) @ R) @ N
    g = ad.vmap(ad.jacfwd(f))
    y = ad.tensor(rng.uniform(0.5, 2.0, size=(6, 5)))
    jg = ad.jit(g)
    contractions = [e for e in jg.lower(y).eqns if e.prim.name == "einsum"]
    assert len(contractions) == 2   # log(y) @ R and the tangent through N; not the basis one
    np.testing.assert_allclose(jg(y).numpy(), g(y).numpy(), rtol=1e-13)
    np.testing.assert_allclose(jg(y).numpy(), g(y).numpy(), rtol=1e-13)


@pytest.mark.parametrize("sub", ["ak,kj->aj", "ka,kj->aj", "bak,jk->bja", "bka,kj->bja"])
def test_identity_rewrite_relabels_every_layout(sub, rng):
    from gpuad.jit.rewrite import contractions_through_identity
    from gpuad.jit.graph import Eqn, Graph
    from gpuad.ops.linalg import einsum_p
    from gpuad.ops.pointwise import mul_p
    xs, ws = sub.split("->")[0].split(",")
    n, sizes = 4, {"a": 4, "k": 4, "b": 3, "j": 5}
    g = Graph()
    batched = "b" in xs
    yshape = tuple(1 if c == "a" else sizes[c] for c in xs)
    Y = g.new_var(yshape, np.dtype("float64"))
    E = g.new_var((n, n), np.dtype("float64"))
    W = g.new_var(tuple(sizes[c] for c in ws), np.dtype("float64"))
    g.inputs = [Y, W]
    g.consts[E.id] = np.eye(n)
    eshape = tuple(sizes[c] for c in xs)
    Ev = np.eye(n).reshape([n if c in "ak" else 1 for c in xs]) if batched else np.eye(n)
    g.consts[E.id] = Ev
    X = g.new_var(eshape, np.dtype("float64"))
    out_shape = tuple(sizes[c] for c in sub.split("->")[1])
    O = g.new_var(out_shape, np.dtype("float64"))
    g.eqns = [Eqn(mul_p, [E, Y], {}, X), Eqn(einsum_p, [X, W], {"subscripts": sub}, O)]
    g.outputs = [O]
    yv, wv = rng.normal(size=yshape), rng.normal(size=W.shape)
    ref = np.einsum(sub, Ev * yv, wv)
    contractions_through_identity(g)
    assert all(e.prim.name != "einsum" or "k" not in e.params["subscripts"] for e in g.eqns)
    from gpuad.backends import get_backend
    be = get_backend("cpu")
    env = {Y.id: yv, W.id: wv, **g.consts}
    for e in g.eqns:
        env[e.out.id] = e.prim.impl(be, *[env[v.id] for v in e.inputs], **e.params)
    np.testing.assert_allclose(env[O.id], ref, rtol=1e-14)


def test_all_constant_equations_are_evaluated_once(rng):
    A = ad.tensor(rng.normal(size=(6, 6)))   # wider than a thin contraction
    f = ad.jit(lambda x: x @ (A @ A.T + ad.eye(6)))
    x = ad.tensor(rng.normal(size=(4, 6)))
    graph = f.lower(x)
    assert [e.prim.name for e in graph.eqns] == ["einsum"]
    np.testing.assert_allclose(f(x).numpy(), x.numpy() @ (A.numpy() @ A.numpy().T + np.eye(6)),
                               rtol=1e-14)



@pytest.mark.parametrize("device", ["cpu", "cudasim"])
def test_folded_constants_keep_their_shape(device):
    # NumPy's ascontiguousarray turns a 0-d array into a 1-d one; a folded 0-d constant
    # that came back (1,) broke the einsum that consumed it (found by the long fuzz run)
    from gpuad.jit.graph import Eqn, Graph
    from gpuad.jit.rewrite import fold_constants
    from gpuad.ops.linalg import einsum_p
    from gpuad.ops.reductions import sum_p
    from gpuad.backends import get_backend
    f64 = np.dtype("float64")
    g = Graph()
    C = g.new_var((3,), f64)
    S = g.new_var((), f64)
    O = g.new_var((), f64)
    g.consts[C.id] = get_backend(device).asarray(np.array([1.0, 2.0, 3.0]))
    g.eqns = [Eqn(sum_p, [C], {"axes": (0,), "keepdims": False}, S),
              Eqn(einsum_p, [S, S], {"subscripts": ",->"}, O)]
    g.outputs = [O]
    fold_constants(g, device)
    assert g.eqns == []
    assert g.consts[S.id].shape == () and g.consts[O.id].shape == ()
    assert float(g.consts[O.id]) == 36.0


def test_jit_hessian_through_keepdims_products_and_a_0d_fold(rng):
    # the fuzz example: the all-constant tail of the graph folds to 0-d values
    x = ad.tensor(rng.uniform(0.1, 1.0, size=(3, 2)))
    c0 = ad.tensor(rng.normal(size=(3, 1)))
    c1 = ad.tensor(np.array([[[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]]))
    c2, c3 = ad.tensor(np.array([[[1.94]]])), ad.tensor(np.array([[0.077, 0.167]]))
    c4 = ad.tensor(np.array([[[1.0, 1.0]]]))

    def f(x):
        v = ad.reshape(ad.pow(x * x + 0.3, 2 * ad.tanh(c0)), (-1, 3, 2))
        v = ad.prod(v * c1, axis=None, keepdims=True)
        v = ad.tensordot(ad.pow(v * v + 0.3, 2 * ad.tanh(c2)), c3, axes=1)
        return ad.prod(v * c4, axis=None, keepdims=True)

    np.testing.assert_allclose(ad.jit(ad.hessian(f))(x).numpy(), ad.hessian(f)(x).numpy(),
                               rtol=1e-12, atol=1e-14)

def _chain(x):
    return ad.sin(x) * ad.exp(-x * x) + x * ad.sum(x)


@pytest.mark.parametrize("n", [4, 16, 40])
def test_trailing_sums_fuse_into_their_kernel(n, rng, fused_groups):
    # jacrev of x * sum(x) sums basis rows times x: the identity basis is summed away
    # (sums_through_identity), at every size; only the primal's sum(x) is a reduction
    g = ad.vmap(ad.jacrev(_chain))
    x = ad.tensor(rng.normal(size=(5, n)))
    jg = ad.jit(g)
    jg(x)
    with ad.count_launches() as c:
        out = jg(x)
    np.testing.assert_allclose(out.numpy(), g(x).numpy(), rtol=1e-13, atol=1e-14)
    kept = c.by_op.get("reduce_sum", 0)
    assert kept == 1, c.by_op   # sum(x) of the primal stays


def test_reshape_chains_are_shortened(rng):
    f = ad.jit(lambda x: ad.exp(x.reshape(2, 6).reshape(3, 4)).reshape(12).reshape(3, 4))
    x = ad.tensor(rng.normal(size=(3, 4)))
    names = [e.prim.name for e in f.lower(x).eqns]
    assert names == ["exp"], names
    np.testing.assert_allclose(f(x).numpy(), np.exp(x.numpy()), rtol=1e-15)


@pytest.mark.parametrize("transform", [ad.jacfwd, ad.jacrev])
def test_products_of_constants_are_contracted_at_compile_time(transform, rng):
    # kinetics-shaped: r = k * exp(log(y) @ R), dy/dt = r @ N.T. Both Jacobians become
    # one GEMM of the per-cell rates with a constant (species x reactions x species)
    R = ad.tensor(rng.uniform(0, 1, size=(5, 7)))
    N = ad.tensor(rng.normal(size=(5, 7)))
    k = ad.tensor(rng.uniform(0.5, 2, size=7))
    f = lambda y: (k * ad.exp(ad.log(y) @ R)) @ N.T
    g = ad.vmap(transform(f))
    y = ad.tensor(rng.uniform(0.5, 2.0, size=(6, 5)))
    jg = ad.jit(g)
    for e in jg.lower(y).eqns:
        if e.prim.name == "einsum":   # no (cells x species x reactions) operand any more
            assert all(len(v.shape) <= 2 for v in e.inputs if v.shape[0] == 6), e
    jg(y)
    np.testing.assert_allclose(jg(y).numpy(), g(y).numpy(), rtol=1e-12)


def test_sums_without_keepdims_leave_the_kernel_but_are_not_read_in_it(rng):
    # s has shape (B, 4): inside a (B, 4, 4) kernel NumPy would broadcast it along the
    # last two axes, not along (batch, row); it must be read back as a separate input
    def f(x):
        s = ad.sum(ad.sin(x) * x, axis=2)                 # (B, 4) from (B, 4, 4)
        return s, ad.exp(x) * s.reshape(-1, 4, 1) + s[:, None, :] + s   # last: along axes 1, 2
    x = ad.tensor(rng.normal(size=(4, 4, 4)))
    jf = ad.jit(f)
    jf(x)
    got, ref = jf(x), f(x)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-13)


def test_results_are_recycled_once_the_caller_drops_them(rng):
    jf = ad.jit(lambda x: ad.exp(ad.sin(x)) * x)
    x = ad.tensor(rng.normal(size=(6, 5)))
    jf(x)                                  # traces
    first = jf(x)
    ptr = first.numpy().__array_interface__["data"][0]
    held = jf(x)                           # first is still held: a new buffer
    assert held.numpy().__array_interface__["data"][0] != ptr
    expect = first.numpy().copy()
    del first
    again = jf(x)                          # first was dropped: its buffer comes back
    assert again.numpy().__array_interface__["data"][0] == ptr
    np.testing.assert_array_equal(again.numpy(), expect)
    np.testing.assert_array_equal(held.numpy(), expect)


def _row_sums(x):
    # sums of x_i x_j M_ij over j: products of two run-time factors, kept as fused sums
    return ad.sin(x) * ad.sum(ad.cos(x)[:, None] * x[None, :] * _M8, axis=1)


_M8 = ad.tensor(np.random.default_rng(1).normal(size=(8, 8)))


def test_a_fused_sum_over_the_line_budget_is_left_out_of_its_kernel(rng, monkeypatch,
                                                                 fused_groups):
    # the unrolled kernel of a fused sum would exceed the line budget: the plan is
    # lowered again with that sum as a separate reduction, and the numbers agree
    g = ad.vmap(ad.jacrev(_row_sums))
    x = ad.tensor(rng.normal(size=(5, 8)))
    jg = ad.jit(g)
    jg(x)
    with ad.count_launches() as c:
        jg(x)
    assert "reduce_sum" not in c.by_op, c.by_op   # within the budget: every sum fused
    monkeypatch.setattr(codegen_cpu, "_MAX_LINES", 40)
    jg = ad.jit(g)
    jg(x)
    with ad.count_launches() as c:
        out = jg(x)
    assert c.by_op.get("reduce_sum", 0) == 2, c.by_op   # over it: both sums left out
    np.testing.assert_allclose(out.numpy(), g(x).numpy(), rtol=1e-13, atol=1e-14)


def test_a_sum_of_products_is_contracted_term_by_term(rng):
    # the demo's kinetics model: rates k * y[i0] * y[i1], so the forward tangent of the
    # rates is a sum of two products; einsum(P1 + P2, S) = einsum(P1, S) + einsum(P2, S)
    from gpuad.models import kinetics
    net = kinetics.random_network(6, 9, seed=0)
    g = ad.vmap(ad.jacfwd(kinetics.make_rhs(net, ad)))
    y = rng.uniform(0.1, 1.0, size=(5, 6))
    jg = ad.jit(g)
    for e in jg.lower(ad.tensor(y)).eqns:
        if e.prim.name == "einsum":
            assert all(len(v.shape) <= 2 for v in e.inputs if v.shape[0] == 5), e
    jg(ad.tensor(y))
    np.testing.assert_allclose(jg(ad.tensor(y)).numpy(), kinetics.analytic_jacobian(net, y),
                               rtol=1e-12, atol=1e-14)


def test_component_reads_are_read_in_place(F, fused_groups):
    # NOTE [strided views]: F[:, i, j] views go to the kernel as they are, not copied
    g = ad.vmap(ad.jacrev(energy))
    jg = ad.jit(g)
    jg(F)
    plan = jg._cache[next(iter(jg._cache))][0]
    groups = [s for s in plan.steps if isinstance(s, GroupStep)]
    assert sum(sum(st.strided) for st in groups) >= 9
    assert "'A'" in open(groups[0].module.__file__).read()
    np.testing.assert_allclose(jg(F).numpy(), g(F).numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("sub,xs,ws", [
    ("ik,ak->ai", (7, 2), (5, 2)),        # a first layer W1 @ x on 2-D points
    ("ak,ki->ai", (7, 3), (3, 4)),
    ("abk,kc->acb", (7, 2, 4), (4, 3)),   # output in another order
    ("ak,k->a", (7, 1), (1,)),            # one summed position: a single product
])
def test_thin_constant_contractions_become_fused_products(sub, xs, ws, rng):
    W = ad.tensor(rng.normal(size=ws))
    if sub.startswith("ik"):
        f = lambda x: ad.tanh(ad.einsum(sub, W, x))
    else:
        f = lambda x: ad.tanh(ad.einsum(sub, x, W))
    x = ad.tensor(rng.normal(size=xs))
    jf = ad.jit(f)
    assert "einsum" not in {e.prim.name for e in jf.lower(x).eqns}
    jf(x)
    np.testing.assert_allclose(jf(x).numpy(), f(x).numpy(), rtol=1e-13, atol=1e-15)


def test_wide_or_batched_contractions_stay_matrix_products(rng):
    W = ad.tensor(rng.normal(size=(5, 8)))
    wide = ad.jit(lambda x: x @ W)                       # sums over 5 positions
    x = ad.tensor(rng.normal(size=(7, 5)))
    assert "einsum" in {e.prim.name for e in wide.lower(x).eqns}
    both = ad.jit(lambda x, y: ad.einsum("ak,ak->a", x, y))  # no constant operand
    assert "einsum" in {e.prim.name for e in both.lower(x, x).eqns}


def _mass_action(rng, species=6, reactions=9, device="cpu"):
    """A mass-action right-hand side written with gather + prod (the usual form): a
    padding species of value 1 fills the second slot of one-reactant reactions, and
    ``A + A`` repeats an index."""
    ridx = rng.integers(0, species + 1, size=(reactions, 2))
    ridx[0] = (1, 1)
    N = ad.tensor(rng.normal(size=(species, reactions)), device=device)
    k = ad.tensor(rng.uniform(0.5, 2.0, size=reactions), device=device)

    def rhs(y):
        yp = ad.concat([y, ad.ones((1,), dtype=y.dtype, device=device)])
        return N @ (k * ad.prod(yp[ridx], axis=-1))
    return rhs


@pytest.mark.parametrize("transform", [ad.jacfwd, ad.jacrev, ad.hessian])
def test_gathered_products_become_one_contraction(transform, rng, fused_groups):
    # the basis expansion through prod's rule (jacfwd) or the gather's scatter (jacrev)
    # is contracted with the constants at compile time: no (B, n, reactions, 2) tensor
    rhs = _mass_action(rng)
    g = ad.vmap(transform(rhs))
    y = ad.tensor(rng.uniform(0.2, 2.0, size=(7, 6)))
    jg = ad.jit(g)
    np.testing.assert_allclose(jg(y).numpy(), g(y).numpy(), rtol=1e-12, atol=1e-13)
    if transform is not ad.hessian:
        names = [e.prim.name for e in jg.lower(y).eqns]
        assert "scatter_add" not in names and "reduce_sum" not in names, names
        big = [e for e in jg.lower(y).eqns if len(e.out.shape) == 4]
        assert not big, [(e.prim.name, e.out.shape) for e in big]


def test_a_scatter_without_an_expansion_is_not_a_contraction(rng):
    # jacrev's scatter of the run-time values alone (no constant basis factor) stays
    # a scatter: a one-hot GEMM would move more bytes than it saves
    idx = np.array([0, 2, 2, 1])
    f = ad.vmap(ad.grad(lambda x: ad.sum(ad.sin(x[idx]))))
    x = ad.tensor(rng.normal(size=(5, 3)))
    jg = ad.jit(f)
    assert "scatter_add" in {e.prim.name for e in jg.lower(x).eqns}
    np.testing.assert_allclose(jg(x).numpy(), f(x).numpy(), rtol=1e-14)


@pytest.mark.cudasim
@pytest.mark.parametrize("transform", [pytest.param(ad.jacfwd, marks=pytest.mark.slow), ad.jacrev])  # quick: one
def test_gathered_products_contract_on_cudasim(transform):
    # the one-hot and pre-contracted constants are made on the host at compile time and
    # used on the device
    y = np.random.default_rng(1).uniform(0.2, 2.0, size=(3, 6))
    ref = ad.vmap(transform(_mass_action(np.random.default_rng(0))))(ad.tensor(y))
    jg = ad.jit(ad.vmap(transform(_mass_action(np.random.default_rng(0), device="cudasim"))))
    out = jg(ad.tensor(y, device="cudasim"))
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("transform", [ad.jacfwd, ad.jacrev, ad.hessian])
def test_small_determinants_are_written_out(n, transform, rng):
    # up to 3x3, det (and the 2x2 minors of its rules) compile to arithmetic on component
    # reads, as a hand-written expansion does; 4x4 stays a det call
    f = lambda A: ad.log(ad.abs(ad.linalg.det(A))) + ad.sum(A * A)
    g = ad.vmap(transform(f))
    A = ad.tensor(np.eye(n) + 0.3 * rng.normal(size=(5, n, n)))
    jg = ad.jit(g)
    np.testing.assert_allclose(jg(A).numpy(), g(A).numpy(), rtol=1e-11, atol=1e-12)
    dets = [e for e in jg.lower(A).eqns if e.prim.name == "det"]
    assert bool(dets) == (n > 3), [e.inputs[0].shape for e in dets]


def test_eager_small_determinants_match_lapack(rng):
    for n in (1, 2, 3):
        A = rng.normal(size=(50, n, n))
        np.testing.assert_allclose(ad.linalg.det(ad.tensor(A)).numpy(), np.linalg.det(A),
                                   rtol=1e-12, atol=1e-14)
    S = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])  # singular
    assert ad.linalg.det(ad.tensor(S)).item() == 0.0


@pytest.mark.parametrize("transform", [ad.jacfwd, ad.hessian])
def test_a_basis_summed_through_a_reduction_is_relabelled(transform, rng):
    # jacfwd of prod(y[:, None] ** R, 0): the identity basis times the exclusive products,
    # summed over species, is the products at the basis index: no (B, n, n, m) tensor
    R = rng.integers(0, 3, size=(4, 5)).astype(float)
    N = ad.tensor(rng.normal(size=(4, 5)))
    rhs = lambda y: N @ ad.prod(y[:, None] ** R, axis=0)
    g = ad.vmap(transform(rhs))
    y = ad.tensor(rng.uniform(0.3, 2.0, size=(6, 4)))
    jg = ad.jit(g)
    np.testing.assert_allclose(jg(y).numpy(), g(y).numpy(), rtol=1e-12, atol=1e-13)
    if transform is ad.jacfwd:
        big = [e for e in jg.lower(y).eqns if len(e.out.shape) == 4 and 4 in e.out.shape[1:3]
               and e.out.shape[1] == e.out.shape[2]]
        assert not big, [(e.prim.name, e.out.shape) for e in big]


@pytest.mark.parametrize("axis", [0, 1, (0, 1)])
def test_identity_sums_keep_every_other_axis(axis, rng):
    # the basis axis kept, the summed one relabelled, other summed axes still summed
    w = ad.tensor(rng.normal(size=(3, 4)))
    f = lambda x: ad.sum(ad.sin(x) * w, axis=axis)
    g = ad.vmap(ad.jacfwd(f))
    x = ad.tensor(rng.normal(size=(5, 3, 4)))
    np.testing.assert_allclose(ad.jit(g)(x).numpy(), g(x).numpy(), rtol=1e-13, atol=1e-14)


def test_a_transposed_contraction_writes_the_transposed_layout(rng):
    # jacfwd's Jacobian leaves its contraction as (B, in, out): the transpose to
    # (B, out, in) becomes the contraction's own output order, not a step of its own
    g = ad.vmap(ad.jacfwd(_mass_action(rng)))
    x = ad.tensor(rng.uniform(0.2, 2.0, size=(7, 6)))
    jg = ad.jit(g)
    names = [e.prim.name for e in jg.lower(x).eqns]
    assert "transpose" not in names, names
    np.testing.assert_allclose(jg(x).numpy(), g(x).numpy(), rtol=1e-13)
    y = jg(x).numpy()
    assert y.flags.c_contiguous


def test_a_thin_contraction_to_a_0d_result_keeps_its_shape():
    # the constant slice of a one-element contraction is 0-d (NumPy's ascontiguousarray
    # made it 1-d, and the einsum after it failed; found by the long fuzz run)
    c0, c1 = ad.tensor(np.array([0.27])), ad.tensor(np.array([0.27, -0.46]))

    def g(x, s):
        v = ad.tensordot(x @ c0, c1, axes=0)
        return v * ad.atan2(v * s, -1.5 - v * v)
    jg = ad.jit(ad.jacfwd(g), static_argnums=1)
    for x, s in ((0.55, 0.0), (-0.92, -0.0), (-1.84, 0.5)):
        xt = ad.tensor(np.array([x]))
        np.testing.assert_allclose(jg(xt, s).numpy(), ad.jacfwd(g)(xt, s).numpy(), rtol=1e-13)


def test_eager_small_inverses_match_lapack_and_raise_when_singular(rng):
    for n in (1, 2, 3):
        A = rng.normal(size=(50, n, n)) + 2 * np.eye(n)
        np.testing.assert_allclose(ad.linalg.inv(ad.tensor(A)).numpy(), np.linalg.inv(A),
                                   rtol=1e-11, atol=1e-12)
    with pytest.raises(ad.GpuadValueError, match="singular"):
        ad.linalg.inv(ad.tensor(np.array([[1.0, 2.0], [2.0, 4.0]])))
