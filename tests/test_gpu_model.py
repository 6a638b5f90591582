"""The GPU cost model (bench/gpu_model.py, DESIGN.md "GPU cost model"): ad.count_launches
records each GPU launch's global bytes and flops from the arrays it actually touched; a
bench row's records are affine in B; the model's floor is the Jacobian's input and output
over HBM bandwidth; the bench prints the model under cudasim. Tiny shapes only."""
import os
import subprocess
import sys

import numpy as np
import pytest

import gpuad as ad
from bench import gpu_model
from bench.run import GpuadLib
from bench.workloads import WORKLOADS
from gpuad import kernel_costs, launches

pytestmark = pytest.mark.cudasim
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _only(c):
    assert len(c.records) == 1, c.records
    return c.records[0]


def test_fused_elementwise_kernel_records_its_inputs_and_outputs():
    from gpuad.backends import get_backend
    be = get_backend("cudasim")
    x = be.asarray(np.arange(12.0).reshape(4, 3))
    y = be.asarray(np.array([1.0, 2.0, 3.0]))          # broadcast along rows: read once
    stmts = (("v0", "a0 * a1"),)
    outs = ("math.exp(v0)", "v0 + a0")
    with ad.count_launches() as c:
        r = be.fused_elementwise("fused", stmts, outs, [x, y], [np.float64] * 2, (4, 3))
    rec = _only(c)
    assert rec.read_bytes == 12 * 8 + 3 * 8
    assert rec.written_bytes == sum(o.nbytes for o in r) == 2 * 12 * 8
    # per element: one multiply, exp (a transcendental), one add
    assert rec.flops == 12 * (1 + kernel_costs.TRANSCENDENTAL_WEIGHT + 1)


def test_strided_input_counts_its_elements_not_its_span():
    F = ad.tensor(np.random.default_rng(0).random((5, 3, 3)), device="cudasim")
    with ad.count_launches() as c:
        ad.sin(F[:, 0, 0])                     # read in place with stride 9
    rec = _only(c)
    assert (rec.read_bytes, rec.written_bytes) == (5 * 8, 5 * 8)


def test_matmul_records_2mnk_flops_and_its_operands():
    M, K, N = 4, 3, 5
    a = ad.tensor(np.ones((M, K)), device="cudasim")
    b = ad.tensor(np.ones((K, N)), device="cudasim")
    with ad.count_launches() as c:
        a @ b
    rec = _only(c)
    assert rec.name.startswith("cublas.")
    assert rec.flops == 2 * M * N * K
    assert (rec.read_bytes, rec.written_bytes) == ((M * K + K * N) * 8, M * N * 8)


def test_device_clock_separates_simulated_kernels_from_host_time():
    x = ad.tensor(np.linspace(0, 1, 64), device="cudasim")
    ad.sin(x)
    import time
    with launches.device_clock() as clk:
        t0 = time.perf_counter()
        ad.sin(x)
        wall = time.perf_counter() - t0
    assert 0 < clk.seconds < wall


@pytest.fixture(scope="module")
def lib():
    import gpuad
    device = gpuad.get_default_device()  # GpuadLib sets the process default: put it back
    lib = GpuadLib("cudasim")
    assert not lib.missing, lib.missing
    yield lib
    gpuad.set_default_device(device)


def _kinetics_jit(lib):
    wl = WORKLOADS["kinetics"]
    return wl, lib.build(wl, "jacfwd", "jit")


def test_bench_row_records_are_affine_in_batch(lib):
    wl, fn = _kinetics_jit(lib)
    p1, p2, p3 = (gpu_model.probe(lib, fn, wl, B) for B in (2, 4, 7))
    lines = gpu_model.fit(p1, p2)
    ok, worst = gpu_model.check_linear(lines, p3)
    assert ok, worst
    # the Jacobian's writes grow with B: the last kernel writes B x 20 x 20 float64
    _, _, ln = lines[-1]
    assert ln["written_bytes"][1] == 20 * 20 * 8
    assert all(r.read_bytes is not None and r.flops is not None for r in p3.records)


def test_model_floor_is_inputs_and_outputs_over_bandwidth(lib):
    wl, fn = _kinetics_jit(lib)
    B = 1_000_000
    rec = gpu_model.model_row(lib, fn, wl, 3, model_batches=(B,))
    assert rec["linear"], rec.get("why")
    X = wl.make_input(2, seed=0)
    per_row = (X.nbytes + wl.numpy_reference("jacfwd", X).nbytes) / 2
    for m in rec["models"]:
        gpu = {g.name: g for g in gpu_model.GPUS}[m["gpu"]]
        assert m["floor_s"] == pytest.approx(B * per_row / gpu.hbm_bytes_per_s, rel=1e-12)
        assert m["modelled_s"] == max(m["host_s"], m["device_s"])
        assert m["device_s"] >= m["launches"] * gpu_model.LAUNCH_LATENCY_S
        assert m["ratio_to_floor"] >= 1.0


def test_model_is_the_roofline_sum_plus_latency():
    Rec = launches.KernelRecord
    p1 = gpu_model.Probe(1, [Rec("fused:k", 1, 100, 100, 10), Rec("cublas.einsum", 1, 50, 0, 400)],
                         8, 8)
    p2 = gpu_model.Probe(2, [Rec("fused:k", 1, 200, 200, 20), Rec("cublas.einsum", 1, 50, 0, 800)],
                         16, 16)
    lines = gpu_model.fit(p1, p2)
    gpu = gpu_model.GPU("toy", 1e3, 10.0, 100.0, "toy")
    m = gpu_model.model(lines, (0, 8), (0, 8), 0.5, 10, gpu)
    # fused:k at B = 10: 2000 bytes / 1e3 = 2 s vs 100 flops / 10 = 10 s; cublas: 50 bytes
    # (0.05 s) vs 4000 flops on the tensor peak (40 s)
    assert m["kernels_s"] == pytest.approx(10 + 40)
    assert m["device_s"] == pytest.approx(50 + 2 * gpu_model.LAUNCH_LATENCY_S)
    assert m["floor_s"] == pytest.approx(160 / 1e3)
    assert m["modelled_s"] == m["device_s"] and m["serial_s"] == pytest.approx(50.5 + 8e-6)


def test_bench_prints_the_model_under_cudasim():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--device", "cudasim", "--workloads", "kinetics",
         "--methods", "jacfwd", "--modes", "jit", "--tiny", "--no-progress", "--no-first-call",
         "--model-batch", "1000,100000"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    assert "GPU cost model" in text
    for col in ("H100 SXM model", "H100 SXM floor", "H100 SXM model/floor", "H200 model",
                "H200 model/floor", "launches", "host"):
        assert col in text
    rows = [ln for ln in text.splitlines() if ln.startswith("kinetics") and "yes (B=" in ln]
    assert [r.split()[3] for r in rows] == ["1,000", "100,000"]


def test_model_section_is_replaced_in_place_and_kept_by_the_cpu_report(tmp_path):
    from bench import report
    path = tmp_path / "performance.md"
    path.write_text("# Performance\n\n## Results\n\nold\n\n## GPU cost model\n\nstale\n\n"
                    "## Reproduce\n\nx\n")
    m = {"gpu": None, "B": 1000, "launches": 2, "host_s": 1e-4, "device_s": 2e-5,
         "modelled_s": 1e-4, "floor_s": 1e-6, "ratio_to_floor": 100.0, "unknown_cost_launches": 0}
    models = [dict(m, gpu=g.name) for g in gpu_model.GPUS]
    data = {"meta": {"argv": ["python", "-m", "bench", "--device", "cudasim"],
                     "date_utc": "today"},
            "results": [{"workload": "kinetics", "method": "vmap(jacfwd)", "mode": "jit", "B": 8,
                         "gpu_model": {"models": models, "fit_batches": [2, 4],
                                       "check_batch": 8}}]}
    report.write_gpu_model_section(data, path)
    text = path.read_text()
    assert "stale" not in text and text.count("## GPU cost model") == 1
    assert text.index("## GPU cost model") < text.index("## Reproduce")
    assert "| kinetics | vmap(jacfwd) | jit | 1,000 | 2 | 100 us |" in text
    kept = "\n".join(report.kept_sections(path))
    assert kept.startswith("## GPU cost model") and "`python -m bench --device cudasim`" in kept
