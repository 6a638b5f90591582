"""gpuad.dask: batched gpuad functions over dask arrays (issue 17).

Most cases run on dask's in-process schedulers; one shared ``LocalCluster`` of two
worker processes runs the cpu and cudasim paths, an error raised on a worker, and a
worker killed mid-computation. Every result is compared with the single-process call
of the same function on the whole batch."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

import gpuad as ad  # noqa: E402
import gpuad.dask as gd  # noqa: E402
from gpuad.backends import simcupy  # noqa: E402
from bench.workloads import kinetics  # noqa: E402

# The worker processes cannot import this test module (it is not on their path as a
# package): its functions travel by value, as a script's would.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

B = 40
RTOL = ATOL = 1e-13


def _cpu(a):
    return ad.tensor(a, device="cpu")  # the reference runs where the chunks do


def _close(got, ref):
    got = simcupy.asnumpy(got) if type(got) is simcupy.ndarray else np.asarray(got)
    assert got.shape == ref.shape and got.dtype == ref.dtype
    np.testing.assert_allclose(got, ref, rtol=RTOL, atol=ATOL)


@pytest.fixture(scope="module")
def kin():
    rhs = kinetics.gpuad_fn(ad, device="cpu")
    f = ad.jit(ad.vmap(ad.jacfwd(rhs)))
    y = kinetics.make_input(B, seed=3)
    return f, y, f(_cpu(y)).numpy()


@pytest.fixture
def sync():
    with dask.config.set(scheduler="synchronous"):
        yield


@pytest.fixture
def threads():
    with dask.config.set(scheduler="threads", num_workers=2):
        yield


def _never(*a, **k):
    raise AssertionError("map_batches scheduled work")


# -- results on the in-process schedulers ------------------------------------------------------
@pytest.mark.parametrize("chunks", [(10,) * 4, (15, 15, 10), (1,) * B, (1, 30, 2, 7)],
                         ids=["even", "uneven", "one-row", "mixed"])
def test_kinetics_jacobian_matches_single_process(kin, threads, chunks):
    f, y, ref = kin
    J = gd.map_batches(f, da.from_array(y, chunks=(chunks, 20)))
    assert J.shape == ref.shape and J.dtype == ref.dtype and J.chunks[0] == chunks
    assert J.chunks[1:] == ((20,), (20,))
    _close(J.compute(), ref)


def test_one_function_per_process_traced_once_per_chunk_shape(sync):
    w = _cpu([0.5, -1.0, 2.0])

    def once(x):
        return ad.sin(x) * w + x * ad.sum(x)
    f = ad.jit(ad.vmap(ad.jacfwd(once)))
    y = np.random.default_rng(0).normal(size=(23, 3))
    J = gd.map_batches(f, da.from_array(y, chunks=5))  # 5, 5, 5, 5, 3: two signatures
    _close(J.compute(), f(_cpu(y)).numpy())
    (info,) = [e for e in gd.cache_info() if e["function"] == "once"]
    assert info == {"function": "once", "device": "cpu", "calls": 5, "trace_count": 2}
    J.compute()  # the same graph again: the cached function, its plans reused
    J2 = gd.map_batches(f, da.from_array(y[::-1] * 2, chunks=5))  # other data, same function
    _close(J2.compute(), f(_cpu(y[::-1] * 2)).numpy())
    (info,) = [e for e in gd.cache_info() if e["function"] == "once"]
    assert info["calls"] == 15 and info["trace_count"] == 2


def test_several_arguments_in_dims_and_pytree_outputs(sync):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(17, 3))
    u = rng.normal(size=(4, 17))  # batched along axis 1
    c = rng.normal(size=(3,))  # broadcast: a NumPy array
    m = rng.normal(size=(4, 3))  # broadcast: a dask array split in two, gathered whole

    def inner(x, u, c, m, s):
        y = ad.sin(x) * c + u @ m * s
        return {"y": y, "jac": ad.jacfwd(lambda x: ad.sin(x) * c + u @ m * s)(x)}, ad.sum(u)

    f = ad.jit(ad.vmap(inner, in_dims=(0, 1, None, None, None)))
    out = gd.map_batches(f, da.from_array(x, chunks=6), da.from_array(u, chunks=(4, 6)), c,
                         da.from_array(m, chunks=(2, 3)), 0.5, in_dims=(0, 1, None, None, None))
    ref = f(_cpu(x), _cpu(u), _cpu(c), _cpu(m), 0.5)
    assert set(out[0]) == {"y", "jac"} and out[0]["jac"].chunks == ((6, 6, 5), (3,), (3,))
    got = dask.compute(out)[0]
    _close(got[0]["y"], ref[0]["y"].numpy())
    _close(got[0]["jac"], ref[0]["jac"].numpy())
    _close(got[1], ref[1].numpy())


def test_output_batched_along_another_axis(sync):
    f = ad.jit(ad.vmap(ad.jacfwd(lambda x: ad.exp(x) * x[0]), out_dims=2))
    y = np.random.default_rng(2).normal(size=(9, 2))
    J = gd.map_batches(f, da.from_array(y, chunks=4))
    assert J.shape == (2, 2, 9) and J.chunks == ((2,), (2,), (4, 4, 1))
    _close(J.compute(), f(_cpu(y)).numpy())


@pytest.mark.cudasim
def test_cudasim_chunks_stay_on_the_device_with_cpu_constants(threads):
    w = ad.tensor([1.0, 2.0, -0.5], device="cpu")  # NOTE [constants follow the chunk]

    def g(x):
        return ad.sin(x) * w + x * ad.sum(x)
    f = ad.jit(ad.vmap(ad.jacfwd(g)))
    y = np.random.default_rng(4).normal(size=(5, 3))
    Y = gd.to_device(da.from_array(y, chunks=(2, 3)), "cudasim")
    assert type(Y._meta) is simcupy.ndarray
    J = gd.map_batches(f, Y)
    assert type(J._meta) is simcupy.ndarray
    wd = ad.tensor([1.0, 2.0, -0.5], device="cudasim")
    ref = ad.jit(ad.vmap(ad.jacfwd(lambda x: ad.sin(x) * wd + x * ad.sum(x))))(
        ad.tensor(y, device="cudasim")).numpy()
    got = J.compute()
    assert type(got) is simcupy.ndarray  # computed on the device, gathered there
    _close(got, ref)
    Y2 = (Y * 1.0).persist()  # device chunks, made before counting
    with ad.count_launches() as c:
        got2 = gd.map_batches(f, Y2).compute()  # the function and its plans are warm
    assert c.transfers == 0, c.by_transfer  # no chunk went through the host
    _close(got2, ref)


def test_a_jit_function_pickles_without_its_plans():
    f = ad.jit(lambda x, n: x ** n, static_argnums=1)
    f(ad.ones(3), 2)
    g = gd._loads(gd._dumps(f), "cpu")
    assert type(g) is type(f) and g.static_argnums == (1,) and g.trace_count == 0
    assert g(ad.full((3,), 3.0), 2).tolist() == [9.0, 9.0, 9.0]


# -- bad input: a clear error before anything is scheduled ------------------------------------
def _bad_cases():
    y = np.ones((12, 3))
    f = ad.vmap(ad.sin)
    f2 = ad.vmap(lambda a, b: a * b)
    return [
        ("split along axis 1", (f, da.from_array(y, chunks=(4, 2))), {},
         r"argument 0 \(shape \(12, 3\)\) is split along axis 1 into chunks \(2, 1\)"),
        ("batch chunks differ", (f2, da.from_array(y, chunks=4), da.from_array(y, chunks=6)), {},
         r"batch axes are chunked differently: argument 0 has chunks \(4, 4, 4\) along axis 0, "
         r"argument 1 has \(6, 6\)"),
        ("batch sizes differ", (f2, da.from_array(y, chunks=4), da.from_array(y[:8], chunks=4)),
         {}, r"batch sizes differ: argument 0 has 12 rows"),
        ("in_dims too short", (f2, da.from_array(y, chunks=4), da.from_array(y, chunks=4)),
         {"in_dims": (0,)}, r"in_dims has 1 entries but 2 argument"),
        ("in_dims out of range", (f, da.from_array(y, chunks=4)), {"in_dims": 2},
         r"in_dims\[0\] = 2 is out of range for argument 0 of shape \(12, 3\)"),
        ("nothing batched", (f, da.from_array(y, chunks=4)), {"in_dims": None},
         r"every in_dims entry is None"),
        ("output not batched", (lambda x: ad.sum(x, axis=0), da.from_array(y, chunks=4)), {},
         r"output leaf 0 of <lambda> has shape \(3,\) for 1 row and \(3,\) for 2 rows"),
    ]


@pytest.mark.parametrize("case", _bad_cases(), ids=lambda c: c[0])
def test_bad_input_raises_before_scheduling(case):
    _, args, kwargs, match = case
    with dask.config.set(scheduler=_never), pytest.raises(ad.GpuadValueError, match=match):
        gd.map_batches(*args, **kwargs)


def test_bad_argument_types():
    with pytest.raises(ad.GpuadTypeError, match=r"argument 0 is batched .* must be a dask array"):
        gd.map_batches(ad.vmap(ad.sin), np.ones((4, 2)))
    with pytest.raises(ad.GpuadTypeError, match=r"in_dims\[1\] must be an int or None"):
        gd.map_batches(ad.vmap(ad.sin), da.ones((4, 2)), da.ones((4, 2)), in_dims=(0, "x"))
    with pytest.raises(ad.GpuadTypeError, match="'func' must be callable"):
        gd.map_batches(3, da.ones((4, 2)))


def _only_big_chunks_fail(x):
    # broadcasting (n, 3) against (4,) fails in gpuad, here only for chunks of 3+ rows, so
    # the error is raised on the worker and not by the client's 1- and 2-row probe
    return x + ad.ones(4, device=x.device) if x.shape[0] > 2 else x * 2.0


def _expected_gpuad_error():
    with pytest.raises(ad.GpuadValueError) as e:
        ad.ones((3, 3), device="cpu") + ad.ones(4, device="cpu")
    return str(e.value)


def test_an_error_in_the_function_reaches_the_client(sync):
    J = gd.map_batches(_only_big_chunks_fail, da.from_array(np.ones((5, 3)), chunks=(2, 3)))
    J.compute()  # chunks of 2 and 1 rows: fine
    J = gd.map_batches(_only_big_chunks_fail, da.from_array(np.ones((5, 3)), chunks=(3, 3)))
    with pytest.raises(ad.GpuadValueError) as e:
        J.compute()
    assert str(e.value) == _expected_gpuad_error()
    assert any("rows 0:3 on device 'cpu'" in n for n in e.value.__notes__)


def test_an_error_on_the_probe_is_raised_by_map_batches():
    with dask.config.set(scheduler=_never), pytest.raises(ad.GpuadValueError) as e:
        gd.map_batches(lambda x: x + ad.ones(4, device=x.device), da.ones((6, 3), chunks=(2, 3)))
    assert any("probe" in n for n in e.value.__notes__)


# -- devices (NOTE [the worker's GPU]) -----------------------------------------------------------
def _dask_cuda_visible_devices(i, visible):
    """dask_cuda.utils.cuda_visible_devices: worker i gets the list rotated by i."""
    return ",".join(map(str, visible[i:] + visible[:i]))


def test_worker_device_from_cuda_visible_devices_as_dask_cuda_sets_it(monkeypatch):
    gpus = [0, 1, 2, 3]
    for i in range(4):
        env = {"CUDA_VISIBLE_DEVICES": _dask_cuda_visible_devices(i, gpus)}
        # worker i's GPU is listed first, so CUDA numbers it 0 in that process
        assert env["CUDA_VISIBLE_DEVICES"].split(",")[0] == str(i)
        assert gd.worker_device("cudasim", env) == "cudasim"
    assert gd.worker_device("cudasim", {"CUDA_VISIBLE_DEVICES": "GPU-9baca7f5,GPU-d6ac2d46"}) \
        == "cudasim"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,0,1,2")
    assert gd.worker_device("cudasim") == "cudasim"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    # every GPU visible (no dask-cuda): the process's current device
    assert gd.worker_device("cudasim") == "cudasim"
    with simcupy.Device(1):
        assert gd.worker_device("cudasim") == "cudasim:1"
    assert gd.worker_device("cpu", {"CUDA_VISIBLE_DEVICES": "1"}) == "cpu"
    for hidden in ("", "-1", " ,1"):
        with pytest.raises(ad.DeviceUnavailableError, match="hides every GPU"):
            gd.worker_device("cudasim", {"CUDA_VISIBLE_DEVICES": hidden})
    with pytest.raises(ad.GpuadValueError, match="must be a device kind"):
        gd.worker_device("cudasim:1")
    with pytest.raises(ad.GpuadValueError):
        gd.worker_device("tpu")


def test_import_gpuad_does_not_import_dask():
    code = ("import sys, gpuad as ad\n"
            "f = ad.jit(ad.vmap(ad.jacfwd(ad.sin)))\n"
            "f(ad.ones((4, 2)))\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('dask', 'distributed', 'cloudpickle'))\n"
            "assert not loaded, loaded\n"
            "import gpuad.dask\n"
            "assert 'dask.array' in sys.modules and 'distributed' not in sys.modules\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


# -- a real cluster: two worker processes -------------------------------------------------------
@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                           dashboard_address=":0", silence_logs=40)
    c = Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


def _infos(client, name):
    return {w: [e for e in infos if e["function"] == name]
            for w, infos in client.run(gd.cache_info).items()}


def test_cluster_cpu_path(client, kin):
    f, y, ref = kin
    J = gd.map_batches(f, da.from_array(y, chunks=(10, 20)))
    _close(client.compute(J).result(), ref)
    infos = _infos(client, "rhs")
    assert sum(e["calls"] for es in infos.values() for e in es) == 4
    for es in infos.values():  # one function per worker, one trace per chunk shape
        assert len(es) <= 1 and all(e["trace_count"] == 1 and e["device"] == "cpu" for e in es)


@pytest.mark.cudasim
def test_cluster_cudasim_path(client):
    def h(x):
        return ad.exp(x) * ad.sum(x * x)
    f = ad.jit(ad.vmap(ad.jacfwd(h)))
    y = np.random.default_rng(5).normal(size=(4, 2))
    J = gd.map_batches(f, gd.to_device(da.from_array(y, chunks=(2, 2)), "cudasim"))
    got = client.compute(J.map_blocks(simcupy.asnumpy, meta=np.empty((0, 0, 0)))).result()
    _close(got, f(ad.tensor(y, device="cudasim")).numpy())
    infos = _infos(client, "h")
    assert sum(e["calls"] for es in infos.values() for e in es) == 2
    assert {e["device"] for es in infos.values() for e in es} == {"cudasim"}


def test_cluster_error_reaches_the_client(client):
    J = gd.map_batches(_only_big_chunks_fail, da.from_array(np.ones((6, 3)), chunks=(3, 3)))
    with pytest.raises(ad.GpuadValueError) as e:
        client.compute(J).result()
    assert str(e.value) == _expected_gpuad_error()
    assert any("worker process" in n for n in e.value.__notes__)


def _slow_rhs(rhs):
    f = ad.vmap(ad.jacfwd(rhs))

    def slow(y):
        time.sleep(0.15)  # long enough to be killed in the middle
        return f(y)
    return slow


def test_cluster_worker_killed_mid_computation(client, kin):
    # last in the module: the nanny restarts the killed worker
    _, y, ref = kin
    slow = _slow_rhs(kinetics.gpuad_fn(ad, device="cpu"))
    fut = client.compute(gd.map_batches(slow, da.from_array(y, chunks=(4, 20))))  # 10 chunks
    deadline = time.monotonic() + 60
    busy = {}
    while not busy and time.monotonic() < deadline:
        busy = {w: ks for w, ks in client.processing().items() if ks}
        time.sleep(0.02)
    assert busy, "no task started"
    victim = next(iter(busy))
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    _close(fut.result(timeout=120), ref)
    assert victim not in client.scheduler_info()["workers"]  # it really died


def test_a_new_performance_report_keeps_the_dask_section(tmp_path):
    # docs/performance.md is rewritten by `python -m bench --markdown`; its Dask section
    # comes from `python -m bench --dask` and must survive that
    from bench import report
    path = tmp_path / "performance.md"
    path.write_text("# Performance\n\n## Reproduce\n\nold\n\n## Dask\n\nB = 10^6 | 1.0 s\n")
    assert report.kept_sections(str(path)) == ["## Dask\n\nB = 10^6 | 1.0 s", ""]
    path.write_text("# Performance\n\n## Dask\n\nnumbers\n\n## Peer bugs\n\nx\n")
    assert report.kept_sections(str(path)) == ["## Dask\n\nnumbers", ""]
    assert report.kept_sections(str(tmp_path / "missing.md")) == []


def test_docstring_examples():
    import doctest
    res = doctest.testmod(gd)
    assert res.attempted >= 3 and res.failed == 0
