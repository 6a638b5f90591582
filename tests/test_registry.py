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
