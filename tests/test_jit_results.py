"""A result ``ad.jit`` returned is never written again by a later call (NOTE [jit buffer
pool]): not through the result, a view of it, a NumPy copy-free export or a DLPack
export, not from another thread; and its memory is reused once all of them are gone."""
import gc
import threading

import numpy as np
import pytest

import gpuad as ad


def _sin2(a):
    return ad.sin(a) * 2.0


def test_held_results_of_a_large_pointwise_kernel_keep_their_values():
    f = ad.jit(_sin2)
    vals = (1.0, 2.0, 3.0, 4.0)
    r = [f(ad.full((400000,), v)) for v in vals]   # large: the threaded kernel path
    for res, v in zip(r, vals):
        np.testing.assert_allclose(res.numpy(), np.full(400000, 2 * np.sin(v)), rtol=1e-14)


def test_held_results_of_a_small_contraction_keep_their_values(rng):
    C = ad.tensor(rng.normal(size=(2, 1, 2)))
    f = ad.jit(lambda x: ad.tensordot(x, C, axes=2))
    xs = [ad.tensor(rng.normal(size=(2, 1))) for _ in range(4)]
    rs = [f(x) for x in xs]
    for r, x in zip(rs, xs):
        np.testing.assert_allclose(r.numpy(), np.tensordot(x.numpy(), C.numpy(), axes=2),
                                   rtol=1e-15)


def test_views_and_exports_outlive_their_tensor(rng):
    f = ad.jit(ad.vmap(ad.jacfwd(lambda x: ad.sin(x) * ad.exp(x))))
    x1 = ad.tensor(rng.normal(size=(300, 3)))
    eager = ad.vmap(ad.jacfwd(lambda x: ad.sin(x) * ad.exp(x)))(x1).numpy()
    f(x1)
    r = f(x1)
    want = r.numpy().copy()
    np.testing.assert_allclose(want, eager, rtol=1e-12, atol=1e-15)
    held = {
        "view": r[1:],
        "transposed view": r.mT,
        "numpy": r.numpy(),
        "__array__": np.asarray(r),
        "dlpack": np.from_dlpack(r),
    }
    del r
    gc.collect()
    for _ in range(4):
        f(ad.tensor(rng.normal(size=(300, 3))))
    np.testing.assert_array_equal(held["view"].numpy(), want[1:])
    np.testing.assert_array_equal(held["transposed view"].numpy(), np.swapaxes(want, -1, -2))
    for name in ("numpy", "__array__", "dlpack"):
        np.testing.assert_array_equal(held[name], want, err_msg=name)


def test_memory_is_reused_once_every_reference_is_gone(rng):
    f = ad.jit(lambda x: ad.sin(x) * ad.exp(x) + x)
    x = ad.tensor(rng.normal(size=(1 << 18,)))        # one fused kernel, pooled output
    f(x)                                             # traces: computed eagerly
    ptr = f(x).numpy().__array_interface__["data"][0]  # the result dies at once
    r = f(x)
    assert r.numpy().__array_interface__["data"][0] == ptr
    v = r[::2]
    del r
    r2 = f(x)                                        # v still holds the memory
    assert r2.numpy().__array_interface__["data"][0] != ptr
    del v
    r3 = f(x)
    assert r3.numpy().__array_interface__["data"][0] == ptr
    np.testing.assert_array_equal(r3.numpy(), r2.numpy())


@pytest.mark.parametrize("n", [7, 400000])
def test_threads_calling_one_jitted_function_get_their_own_results(n):
    f = ad.jit(_sin2)
    f(ad.full((n,), 0.5))
    results, errors = {}, []
    barrier = threading.Barrier(4)

    def work(k):
        try:
            barrier.wait()
            results[k] = [f(ad.full((n,), float(k + 10 * i))) for i in range(5)]
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for k, rs in results.items():
        for i, r in enumerate(rs):
            np.testing.assert_allclose(r.numpy(), np.full(n, 2 * np.sin(k + 10.0 * i)), rtol=1e-14)
