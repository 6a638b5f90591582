"""The registry is the single source of derivative coverage: forward mode never has
less operator coverage than reverse mode, and every primitive can be batched."""
import pytest

import gpuad as ad  # noqa: F401  (importing registers every primitive)
from gpuad.primitive import registry


def test_registry_is_populated():
    assert len(registry) >= 60


@pytest.mark.parametrize("name", sorted(registry))
def test_differentiable_primitive_has_jvp_and_vjp(name):
    p = registry[name]
    if p.differentiable:
        assert p.jvp is not None, f"{name} lacks a JVP rule"
        assert p.vjp is not None, f"{name} lacks a VJP rule"


@pytest.mark.parametrize("name", sorted(registry))
def test_every_primitive_has_batching_rule(name):
    assert registry[name].batch is not None, f"{name} lacks a batching rule"


@pytest.mark.parametrize("name", sorted(n for n, p in registry.items() if p.expr is not None))
def test_pointwise_expressions_compile_as_python(name):
    # The kernel expression is compiled by Numba for cpu fusion and CUDA; it must at
    # least be a valid Python expression over a0..ak.
    import math
    expr = registry[name].expr
    code = compile(expr, name, "eval")
    env = {"math": math, "a0": 1.5 if name == "acosh" else 0.5, "a1": 0.25, "a2": 0.75}
    eval(code, env)


@pytest.mark.parametrize("name", sorted(registry))
def test_row_rule_is_declared_on_the_primitive(name):
    # jit's row analysis reads Primitive.rows and nothing else (NOTE [row tiles])
    from gpuad.primitive import BROADCAST, ELEMENTWISE
    p = registry[name]
    assert p.rows is None or p.rows in (ELEMENTWISE, BROADCAST) or callable(p.rows), p.rows
    if p.expr is not None:
        assert p.rows is ELEMENTWISE, f"{name}: a kernel expression runs element by element"


def test_row_rules_tell_apart_rows_kept_and_rows_mixed():
    from gpuad.ops.linalg import det_p, einsum_p, solve_p
    from gpuad.ops.shape import concat_p, flip_p
    from gpuad.ops.indexing import ArrayRef, gather_p, scatter_add_p
    from gpuad.ops.structural import sum_p, transpose_p
    n = 5
    # a reduction keeps the rows unless it sums over them
    assert sum_p.rows([(n, 3)], (n,), [True], n, {"axes": (1,), "keepdims": False}) is True
    assert sum_p.rows([(n, 3)], (n,), [True], n, {"axes": (0,), "keepdims": False}) is None
    assert transpose_p.rows([(n, 2, 3)], (n, 3, 2), [True], n, {"perm": (0, 2, 1)}) is True
    assert flip_p.rows([(n, 3)], (n, 3), [True], n, {"axes": (0,)}) is None
    assert concat_p.rows([(n, 2), (n, 3)], (n, 5), [True, True], n, {"axis": 1}) is True
    assert concat_p.rows([(n, 2), (n, 2)], (2 * n, 2), [True, True], n, {"axis": 0}) is None
    # a gather keeps the rows when axis 0 is a full slice and the index is row-free
    spec = (slice(None), ArrayRef(0))
    assert gather_p.rows([(n, 4), (2,)], (n, 2), [True, False], n, {"spec": spec}) is True
    assert gather_p.rows([(n, 4), (n,)], (n, n), [True, True], n, {"spec": spec}) is None
    assert scatter_add_p.rows([(n, 2), (2,)], (n, 4), [True, False], n,
                              {"spec": spec, "shape": (n, 4)}) is True
    assert scatter_add_p.rows([(n, 2), (2,)], (n, 4), [True, False], n,
                              {"spec": spec, "shape": (n + 1, 4)}) is None
    # a contraction keeps them when one letter is the rows everywhere
    assert einsum_p.rows([(n, 3), (3, 4)], (n, 4), [True, False], n,
                         {"subscripts": "bi,ij->bj"}) is True
    assert einsum_p.rows([(n, 3), (n, 3)], (3, 3), [True, True], n,
                         {"subscripts": "bi,bj->ij"}) is None
    assert det_p.rows([(n, 3, 3)], (n,), [True], n, {}) is True
    assert det_p.rows([(n, n)], (), [True], n, {}) is None
    assert solve_p.rows([(n, 3, 3), (n, 3, 1)], (n, 3, 1), [True, True], n, {}) is True
