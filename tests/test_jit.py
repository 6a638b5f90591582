"""ad.jit: same numbers as eager under every transform, one trace per signature,
fused kernels, clear errors for data-dependent control flow."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gpuad as ad


def chain(x):
    return ad.sin(x) * ad.exp(-x ** 2) + x * ad.sum(x)


def pointwise(x):
    return ad.sin(x) * ad.exp(x) + ad.tanh(x) / (1.0 + x * x)


def mixed(x):
    A = ad.tensor(np.arange(12.0).reshape(3, 4) / 10.0, device=x.device)
    y = A @ x[:4]
    return ad.logsumexp(y) + ad.max(x) * ad.mean(ad.square(x[[0, 2, 2]]))


TRANSFORMS = {
    "f": lambda f: f,
    "jacfwd": lambda f: ad.jacfwd(f),
    "jacrev": lambda f: ad.jacrev(f),
    "hessian": lambda f: ad.hessian(lambda x: ad.sum(f(x))),
    "vmap": lambda f: ad.vmap(f),
    "vmap(jacfwd)": lambda f: ad.vmap(ad.jacfwd(f)),
    "vmap(jacrev)": lambda f: ad.vmap(ad.jacrev(f)),
    "vmap(hessian)": lambda f: ad.vmap(ad.hessian(lambda x: ad.sum(f(x)))),
    "jacfwd(jacrev)": lambda f: ad.jacfwd(ad.jacrev(lambda x: ad.sum(f(x)))),
    "grad": lambda f: ad.grad(lambda x: ad.sum(f(x))),
}


@pytest.mark.parametrize("fname,f", [("chain", chain), ("pointwise", pointwise), ("mixed", mixed)])
@pytest.mark.parametrize("tname", sorted(TRANSFORMS))
def test_jit_matches_eager(tname, fname, f, rng):
    g = TRANSFORMS[tname](f)
    batched = tname.startswith("vmap")
    x = ad.tensor(rng.normal(size=(3, 5) if batched else (5,)))
    ref = g(x)
    jg = ad.jit(g)
    first = jg(x)
    second = jg(x)
    np.testing.assert_allclose(first.numpy(), ref.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(second.numpy(), ref.numpy(), rtol=1e-12, atol=1e-12)
    assert jg.trace_count == 1


def test_same_signature_never_retraces_new_one_does(rng):
    jf = ad.jit(ad.vmap(ad.jacfwd(chain)))
    x = ad.tensor(rng.normal(size=(4, 3)))
    for _ in range(3):
        jf(x)
    assert jf.trace_count == 1
    jf(ad.tensor(rng.normal(size=(4, 3))))   # new values, same signature
    assert jf.trace_count == 1
    jf(ad.tensor(rng.normal(size=(5, 3))))   # new shape
    assert jf.trace_count == 2
    jf(ad.tensor(rng.normal(size=(5, 3)), dtype="float32"))  # new dtype
    assert jf.trace_count == 3


def test_python_scalars_are_traced_not_retraced(rng):
    jf = ad.jit(lambda x, a: x * a)
    x = ad.tensor(rng.normal(size=3))
    np.testing.assert_allclose(jf(x, 2.0).numpy(), 2 * x.numpy())
    np.testing.assert_allclose(jf(x, 3.0).numpy(), 3 * x.numpy())
    np.testing.assert_allclose(jf(x, -1.5).numpy(), -1.5 * x.numpy())
    assert jf.trace_count == 1
    x32 = ad.tensor(rng.normal(size=3), dtype="float32")  # weakly typed, as the number is
    assert jf(x32, 2.0).dtype == np.float32 and jf(x32, 2).dtype == np.float32
    assert jf(ad.tensor([1, 2]), 2).dtype == np.int64
    assert jf(ad.tensor([1, 2]), 0.5).dtype == np.float64


def test_signed_zero_and_nan_scalars():
    x = ad.tensor([1.0, 2.0])
    f = ad.jit(lambda x, c: 1 / (x * c))
    assert f(x, 0.0).tolist() == [np.inf, np.inf]
    assert f(x, -0.0).tolist() == [-np.inf, -np.inf]
    g = ad.jit(lambda x, c: x * c)
    for _ in range(50):
        r = g(x, float("nan"))
    assert g.trace_count == 1 and np.isnan(r.numpy()).all()
    s = ad.jit(lambda x, c: x / c, static_argnums=1)   # static: keyed by value, exactly
    assert s(x, 0.0).tolist() == [np.inf, np.inf]
    assert s(x, -0.0).tolist() == [-np.inf, -np.inf]
    for _ in range(20):
        s(x, float("nan"))
    assert s.trace_count == 3


def test_static_argnums_are_keyed_by_value(rng):
    f = ad.jit(lambda x, n, scale: ad.sum(x ** n, axis=0) * scale[0], static_argnums=(1, -1))
    x = ad.tensor(rng.normal(size=(4, 3)))
    np.testing.assert_allclose(f(x, 2, (1.5,)).numpy(), 1.5 * np.sum(x.numpy() ** 2, axis=0))
    np.testing.assert_allclose(f(x, 3, (1.5,)).numpy(), 1.5 * np.sum(x.numpy() ** 3, axis=0))
    f(x, 3, (1.5,))
    assert f.trace_count == 2
    with pytest.raises(ad.GpuadTypeError, match="static argument 2 of type list is not hashable"):
        f(x, 2, [1.5])
    with pytest.raises(ad.GpuadTypeError, match="static_argnums"):
        ad.jit(lambda x: x, static_argnums="0")
    with pytest.raises(ad.GpuadValueError, match="static_argnums names argument 3"):
        ad.jit(lambda x: x, static_argnums=3)(x)


def test_unhashable_arguments_are_rejected_not_keyed_by_id():
    class Box:
        __hash__ = None

    f = ad.jit(lambda x, b: x)
    with pytest.raises(ad.GpuadTypeError, match="Box is not hashable"):
        f(ad.ones(2), Box())
    assert f.trace_count == 0 and not ad.core._state.stack


def test_scalars_a_function_needs_concretely_become_static(rng):
    x = ad.tensor(rng.normal(size=(2, 3)))
    axis = ad.jit(lambda x, n: ad.sum(x, axis=n))         # an axis: fails on a traced int
    assert axis(x, 0).shape == (3,) and axis(x, 1).shape == (2,)
    loop = ad.jit(lambda x, n: sum(x for _ in range(n)))  # range() reads the value
    np.testing.assert_allclose(loop(x, 3).numpy(), 3 * x.numpy())
    np.testing.assert_allclose(loop(x, 4).numpy(), 4 * x.numpy())
    flag = ad.jit(lambda x, on: x * 2 if on else x)
    np.testing.assert_allclose(flag(x, True).numpy(), 2 * x.numpy())
    np.testing.assert_allclose(flag(x, False).numpy(), x.numpy())
    for f, seen in ((axis, 1), (loop, 4), (flag, True)):
        f(x, seen)
        assert f.trace_count == 2


def test_pointwise_jit_vmap_jacfwd_launches_at_most_two(rng):
    jf = ad.jit(ad.vmap(ad.jacfwd(pointwise)))
    x = ad.tensor(rng.normal(size=(50, 8)))
    jf(x)
    with ad.count_launches() as c:
        out = jf(x)
    assert c.launches <= 2, c.by_op
    np.testing.assert_allclose(out.numpy(), ad.vmap(ad.jacfwd(pointwise))(x).numpy(), rtol=1e-12)


def test_jit_reduces_launches_vs_eager(rng):
    g = ad.vmap(ad.jacrev(chain))
    x = ad.tensor(rng.normal(size=(6, 4)))
    with ad.count_launches() as eager:
        g(x)
    jg = ad.jit(g)
    jg(x)
    with ad.count_launches() as jitted:
        jg(x)
    assert jitted.launches < eager.launches / 2


def test_data_dependent_control_flow_raises_and_suggests_where(rng):
    def f(x):
        if ad.sum(x) > 0:
            return x
        return -x
    jf = ad.jit(f)
    with pytest.raises(ad.GpuadError, match="where"):
        jf(ad.tensor(rng.normal(size=3)))
    # the library is usable afterwards and the where-version works
    g = ad.jit(lambda x: ad.where(ad.sum(x) > 0, x, -x))
    x = ad.tensor([1.0, 2.0])
    np.testing.assert_allclose(g(x).numpy(), [1.0, 2.0])


def test_random_inside_jit_raises():
    with pytest.raises(ad.GpuadError, match="jit"):
        ad.jit(lambda x: x + ad.rand(3))(ad.ones(3))


def test_jit_inside_transforms_is_inlined(rng):
    jf = ad.jit(chain)
    x = ad.tensor(rng.normal(size=(3, 4)))
    np.testing.assert_allclose(ad.vmap(ad.jacfwd(jf))(x).numpy(),
                               ad.vmap(ad.jacfwd(chain))(x).numpy(), rtol=1e-12)
    np.testing.assert_allclose(ad.jacrev(jf)(x[0]).numpy(), ad.jacrev(chain)(x[0]).numpy(), rtol=1e-12)


def test_jit_pytrees_and_constants(rng):
    params = {"w": ad.tensor(rng.normal(size=(3, 2))), "b": ad.tensor(rng.normal(size=3))}

    def net(p, x):
        return ad.tanh(p["w"] @ x + p["b"]).sum()

    g = ad.jit(ad.grad(net))
    x = ad.tensor(rng.normal(size=2))
    got = g(params, x)
    ref = ad.grad(net)(params, x)
    for k in params:
        np.testing.assert_allclose(got[k].numpy(), ref[k].numpy(), rtol=1e-12)


def test_eager_tape_through_jit_is_inlined():
    jf = ad.jit(lambda x: (x * x).sum())
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    jf(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


def test_disk_cache_is_reused_by_a_second_process(tmp_path):
    code = textwrap.dedent("""
        import time, numpy as np, gpuad as ad
        f = ad.jit(ad.vmap(ad.jacfwd(lambda x: ad.sin(x) * ad.cos(x) + x)))
        x = ad.tensor(np.ones((4, 3)))
        t0 = time.perf_counter(); f(x); f(ad.tensor(np.ones((4, 3))))
        print(time.perf_counter() - t0)
    """)
    env = dict(os.environ, GPUAD_CACHE_DIR=str(tmp_path))
    env.pop("NUMBA_CACHE_DIR", None)  # Numba's cache then sits beside the kernel modules
    cold = float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                text=True, check=True).stdout.split()[-1])
    files = list((tmp_path / "kernels").iterdir())
    assert any(f.suffix == ".py" for f in files)
    assert any(f.name == "__pycache__" for f in files)
    warm = float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                text=True, check=True).stdout.split()[-1])
    assert warm < cold


@pytest.mark.cudasim
def test_jit_on_cudasim_matches_cpu(rng):
    xn = rng.normal(size=(2, 3))
    g = ad.vmap(ad.jacfwd(chain))
    jg = ad.jit(g)
    got = jg(ad.tensor(xn, device="cudasim"))
    got = jg(ad.tensor(xn, device="cudasim"))
    assert got.device == "cudasim"
    np.testing.assert_allclose(got.numpy(), g(ad.tensor(xn)).numpy(), rtol=1e-12, atol=1e-14)


ZERO_SIZE = {
    "sum over an empty axis": (lambda x: ad.sum(x * x, axis=1), (3, 0)),
    "product with an empty inner size": (lambda x: x @ ad.zeros(0, 1), (2, 0)),
    "empty batch of a fused chain": (lambda x: ad.sin(x) * ad.exp(x), (0, 4)),
    "vmap(jacfwd) of no rows": (ad.vmap(ad.jacfwd(lambda x: ad.sin(x) * x)), (0, 3)),
    "vmap(jacrev) of empty rows": (ad.vmap(ad.jacrev(lambda x: ad.sin(x) * ad.sum(x))), (4, 0)),
    "mean over an empty axis": (lambda x: ad.mean(x, axis=0), (0, 3)),
    "vmap(jacrev) of an empty product of contractions": (
        ad.vmap(ad.jacrev(lambda x: ad.prod((ad.zeros(2, 0) @ ad.abs(x)) * ad.zeros(2, 0)))),
        (2, 0, 0)),
}


@pytest.mark.parametrize("name", list(ZERO_SIZE))
def test_zero_size_dimensions_run_as_eager_does(name):
    f, shape = ZERO_SIZE[name]
    x = ad.ones(*shape)
    want = f(x).numpy()
    jf = ad.jit(f)
    got = [jf(x) for _ in range(3)]
    for g in got:
        assert g.shape == want.shape
        np.testing.assert_array_equal(g.numpy(), want)


def test_background_compile_runs_eagerly_until_the_plan_is_ready(rng, monkeypatch):
    import sys
    import threading
    jit_mod = sys.modules["gpuad.jit.function"]  # where the compile is called
    release = threading.Event()
    real_build = jit_mod._build

    def slow_build(*a):  # hold the compile until the test has made its eager calls
        release.wait(30)
        return real_build(*a)
    monkeypatch.setattr(jit_mod, "_build", slow_build)
    f = lambda x: ad.sin(x) * ad.exp(-x * x) + x ** 3
    g = ad.vmap(ad.jacfwd(f))
    jg = ad.jit(g, compile="background")
    x = ad.tensor(rng.normal(size=(6, 4)))
    ref = g(x).numpy()
    np.testing.assert_allclose(jg(x).numpy(), ref, rtol=1e-14)   # traced: eager values
    assert jg.cache_info() == [] and not jg.wait(timeout=0)
    with ad.count_launches() as c:
        np.testing.assert_allclose(jg(x).numpy(), ref, rtol=1e-14)  # compiling: eager
    assert not any(op.startswith("fused") for op in c.by_op), c.by_op
    release.set()
    assert jg.wait(timeout=60)
    with ad.count_launches() as c:
        np.testing.assert_allclose(jg(x).numpy(), ref, rtol=1e-13, atol=1e-15)  # the plan
    assert any(op.startswith("fused") for op in c.by_op), c.by_op
    assert jg.trace_count == 1 and len(jg.cache_info()) == 1


def test_background_compile_error_reaches_the_caller_then_retraces(rng, monkeypatch):
    import sys
    jit_mod = sys.modules["gpuad.jit.function"]  # where the compile is called
    real_build = jit_mod._build
    calls = []

    def failing_build(*a):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("compiler exploded")
        return real_build(*a)
    monkeypatch.setattr(jit_mod, "_build", failing_build)
    jg = ad.jit(lambda x: ad.sin(x) * 2.0, compile="background")
    x = ad.tensor(rng.normal(size=5))
    jg(x)
    jg.wait(timeout=60)
    with pytest.raises(RuntimeError, match="compiler exploded"):
        jg(x)
    np.testing.assert_allclose(jg(x).numpy(), np.sin(x.numpy()) * 2.0)  # traced again
    assert jg.wait(timeout=60) and jg.trace_count == 2
    np.testing.assert_allclose(jg(x).numpy(), np.sin(x.numpy()) * 2.0)


@pytest.mark.parametrize("mode", ["later", None, True])
def test_jit_compile_mode_is_checked(mode):
    with pytest.raises(ad.GpuadValueError, match="argument 'compile'"):
        ad.jit(ad.sin, compile=mode)
    with pytest.raises(ad.GpuadValueError, match="argument 'compile'"):
        ad.jit(compile=mode)


def test_dict_arguments_with_other_keys_or_order_are_other_signatures():
    # the key order decides the leaf order: a plan traced for {"a", "b"} must not serve
    # {"b", "a"} (it computed leaf0 - leaf1 and returned +9 here)
    f = ad.jit(lambda d: d["a"] - d["b"])
    x, y = ad.tensor(np.array([1.0])), ad.tensor(np.array([10.0]))
    assert f({"a": x, "b": y}).tolist() == [-9.0]
    assert f({"b": y, "a": x}).tolist() == [-9.0]
    g = ad.jit(lambda d: sum(d.values()) * (2.0 if "c" in d else 1.0))
    assert g({"a": x, "b": y}).tolist() == [11.0]
    assert g({"a": x, "c": y}).tolist() == [22.0]
    assert f.trace_count == 2 and g.trace_count == 2


def test_a_jitted_function_pickles_as_its_function_and_options(rng):
    import pickle
    jf = ad.jit(_pickle_me, static_argnums=1)
    x = ad.tensor(rng.normal(size=4))
    jf(x, 2)
    back = pickle.loads(pickle.dumps(jf))
    assert back.static_argnums == (1,) and back.compile == "now" and back.trace_count == 0
    np.testing.assert_allclose(back(x, 2).numpy(), jf(x, 2).numpy())


def _pickle_me(x, n):
    return ad.sin(x) ** n
