"""The PTX command: every kernel gpuad can emit compiles to PTX for sm_80 and sm_90 without a
GPU (Numba's NVVM through the NVRTC wheel), and, where ptxas is on the machine, none spills.
"""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import pytest

from gpuad import ptx

ARCHS = ("sm_80", "sm_90")


def _nvrtc_reason():
    try:
        from numba import cuda, float64, int64

        def k(out, n):
            i = cuda.grid(1)
            if i < n:
                out[i] = 1.0
        cuda.compile_ptx(k, (float64[::1], int64), cc=(8, 0))
    except Exception as e:  # no numba-cuda, no NVRTC/NVVM
        return f"PTX compilation unavailable here: {type(e).__name__}: {e}"
    return None


pytestmark = pytest.mark.skipif(_nvrtc_reason() is not None, reason=str(_nvrtc_reason()))


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ptx")
    cmd = [sys.executable, "-m", "gpuad.ptx", "--ptx", "--arch", ",".join(ARCHS),
           "--out", str(out), "--report"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    return out, r.stdout


def _template(label):
    """The kernel template an instance is made from: its label without the op, dtype and
    size (``ew_sin_float64_nd2`` -> ``ew_OP_DT_nd2``, ``det_k3_float32`` -> ``det_kN_DT``)."""
    t = re.sub(r"float(32|64)|bool", "DT", label)
    t = re.sub(r"^ew_.+?_DT", "ew_OP_DT", t)
    t = re.sub(r"^reduce_(columns_)?[a-z]+_", r"reduce_\1OP_", t)
    t = re.sub(r"_k\d+", "_kN", t)
    return t.split("_")[0] if t.startswith(("rows_", "program")) else t


def test_one_instance_of_each_template_has_ptx_for_each_arch(tmp_path):
    """The quick profile's PTX check (the whole list, every op and dtype, is the slow test
    below): the first instance of every kernel template compiles for each arch."""
    first = {}
    for label, _, _ in ptx.instances():
        first.setdefault(_template(label), label)
    assert {"ew_OP_DT_nd2", "ew_OP_DT_nd3_tangent", "reduce_OP_DT_shfl", "reduce_OP_DT_tree",
            "reduce_columns_OP_DT", "det_kN_DT", "inv_kN_DT", "solve_kN_DT"} <= set(first), sorted(first)
    for label in first.values():
        summary = ptx.run(list(ARCHS), str(tmp_path), jobs=1, only=label, stream=io.StringIO())
        assert len(summary["files"]) == len(ARCHS), (label, summary["files"])
        for arch in ARCHS:
            text = (tmp_path / f"{label}.{arch}.ptx").read_text()
            assert ".entry" in text and f".target {arch}" in text, (label, arch)


# the whole list, every instance for both archs (minutes): the full profile
@pytest.mark.slow
def test_every_instance_has_ptx_for_each_arch(cli_run):
    out, _ = cli_run
    labels = [label for label, _, _ in ptx.instances()]
    assert len(labels) >= len(ptx.POINTWISE) * 4
    for label in labels:
        for arch in ARCHS:
            path = out / f"{label}.{arch}.ptx"
            assert path.exists(), path
            text = path.read_text()
            assert ".entry" in text and f".target {arch}" in text, path


def test_instances_cover_templates_dtypes_and_tangent_batches():
    labels = {label for label, _, _ in ptx.instances()}
    for name in ptx.POINTWISE:
        for dt in ("float32", "float64"):
            assert f"ew_{name}_{dt}_nd2" in labels
            assert f"ew_{name}_{dt}_nd3_tangent" in labels
    for op in ptx.REDUCE_OPS:
        assert f"reduce_{op}_float64_shfl" in labels and f"reduce_{op}_float32_tree" in labels
        assert f"reduce_columns_{op}_float32" in labels
    for fn in ("det", "inv", "solve"):
        assert f"{fn}_k8_float64" in labels


_ROW = re.compile(r"^(\S+)\s+(sm_\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$")


@pytest.mark.slow  # shares the slow test's compilation of every instance
def test_report_shows_no_spills(cli_run):
    _, stdout = cli_run
    if ptx.find_ptxas() is None:
        assert "ptxas is not on this machine" in stdout
        pytest.skip("ptxas is not on this machine: no register/spill report")
    rows = [m.groups() for m in map(_ROW.match, stdout.splitlines()) if m]
    assert len(rows) == len(ptx.instances()) * len(ARCHS)
    # Tangent batches are a grid dimension, so "n <= 32 directions" is every instance here.
    spilled = [(r[0], r[1]) for r in rows if int(r[4]) or int(r[5])]
    assert spilled == [], f"kernels spill registers: {spilled}"
    assert "kernels with spills: 0" in stdout
    regs = {(r[0], r[1]): int(r[2]) for r in rows}
    assert all(0 < v <= 255 for v in regs.values())
    smem = {r[0]: int(r[6]) for r in rows}
    assert smem["reduce_sum_float64_shfl"] == 8 * 8     # one float64 per warp
    assert smem["reduce_sum_float32_tree"] == 256 * 4   # one float32 per thread


def test_report_without_ptxas_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(ptx, "find_ptxas", lambda: None)
    buf = io.StringIO()
    summary = ptx.run(["sm_80"], str(tmp_path), report=True, jobs=1, only="ew_neg_float64_nd2",
                      stream=buf)
    assert summary["report"] is None and len(summary["files"]) == 1
    assert "ptxas is not on this machine" in buf.getvalue()


def test_cli_rejects_bad_arch(tmp_path):
    r = subprocess.run([sys.executable, "-m", "gpuad.ptx", "--ptx", "--arch", "ampere",
                        "--out", str(tmp_path), "--only", "ew_neg_float64_nd2"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "bad --arch" in r.stderr


def test_cli_list_and_help():
    r = subprocess.run([sys.executable, "-m", "gpuad.ptx", "--list"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "ew_sin_float32_nd3_tangent" in r.stdout
    r = subprocess.run([sys.executable, "-m", "gpuad.ptx"], capture_output=True, text=True)
    assert r.returncode == 2 and "--ptx" in r.stdout


def test_registered_instance_is_compiled(tmp_path):
    from numba import float64, int64

    from gpuad.kernels import elementwise
    fn = elementwise.kernel_function("a0 * 2.0", ("f",), 1, "float64")
    ptx.register_instance("extra_double", fn, (float64[::1], int64, float64[::1]))
    try:
        summary = ptx.run(["sm_90"], str(tmp_path), jobs=1, only="extra_double",
                          stream=io.StringIO())
    finally:
        ptx._EXTRA.clear()
    assert [os.path.basename(f) for f in summary["files"]] == ["extra_double.sm_90.ptx"]
