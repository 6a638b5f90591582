"""``bench/gpu_check.sh``, the check for the first CUDA host, without one: its dry run on fake
``nvidia-smi`` / ``nvcc`` (the CUDA version it detects, the commands it plans, and that it
writes nothing), and a real run on a fake venv (every step runs, a failure does not stop the
others, the budget cuts steps short, outputs land in one folder)."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "gpu_check.sh"
STEPS = ["host", "install", "info", "demo", "pytest", "bench", "ptxas-report"]


def _exe(path: Path, body: str) -> None:
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)


def _fake_bin(tmp_path, smi_cuda=None, compute_cap="9.0", nvcc_release=None) -> Path:
    """A folder of fake NVIDIA tools; PATH = it + /usr/bin:/bin hides any real ones."""
    fake = tmp_path / "fakebin"
    fake.mkdir(exist_ok=True)
    if smi_cuda is not None:
        _exe(fake / "nvidia-smi", f"""
case "$*" in
  *compute_cap*--format=csv,noheader*) echo "{compute_cap}" ;;
  *--query-gpu*) echo "name, compute_cap"; echo "NVIDIA H200, {compute_cap}" ;;
  *) echo "| NVIDIA-SMI 580.65.06   Driver Version: 580.65.06   CUDA Version: {smi_cuda}     |" ;;
esac
""")
    if nvcc_release is not None:
        _exe(fake / "nvcc", f"""
echo "nvcc: NVIDIA (R) Cuda compiler driver"
echo "Cuda compilation tools, release {nvcc_release}, V{nvcc_release}.88"
""")
    return fake


def _run(tmp_path, *args, fake=None, env=None, timeout=60):
    fake = fake or _fake_bin(tmp_path)
    e = {"PATH": f"{fake}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C"}
    e.update(env or {})
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          env=e, cwd=tmp_path, timeout=timeout)


def _plan(stdout: str) -> dict:
    """{step: (timeout_s, command)} from the dry run's ``step NAME timeout Ns: CMD`` lines."""
    plan = {}
    for line in stdout.splitlines():
        if line.startswith("step ") and " timeout " in line:
            head, cmd = line.split(": ", 1)
            parts = head.split()
            plan[parts[1]] = (int(parts[3].rstrip("s")), cmd)
    return plan


@pytest.mark.parametrize("tools,extra,source", [
    ({"smi_cuda": "13.0"}, "cuda13", "nvidia-smi: the driver supports CUDA 13.0"),
    ({"smi_cuda": "12.4", "nvcc_release": "13.0"}, "cuda12",
     "nvidia-smi: the driver supports CUDA 12.4"),          # the driver wins over the toolkit
    ({"nvcc_release": "12.8"}, "cuda12", "nvcc: CUDA toolkit 12.8"),
    ({"nvcc_release": "13.1"}, "cuda13", "nvcc: CUDA toolkit 13.1"),
    ({}, "cuda12", "fallback: neither nvidia-smi nor nvcc reports a CUDA version"),
    ({"smi_cuda": "11.8"}, "cuda12", "older than 12"),
])
def test_dry_run_detects_the_cuda_version(tmp_path, tools, extra, source):
    out = _run(tmp_path, "--dry-run", fake=_fake_bin(tmp_path, **tools))
    assert out.returncode == 0, out.stderr
    assert f"-> extra {extra}" in out.stdout and source in out.stdout
    install = _plan(out.stdout)["install"][1]
    assert f'"jax[{extra}]"' in install          # the JAX peer for the same CUDA
    if extra == "cuda12":
        assert f'pip install -e ".[{extra},test]" ' in install
    else:
        # the test extra's gpuad[cudasim] pins numba-cuda[cu12], which cannot resolve with
        # numba-cuda[cu13]: its other requirements are listed instead
        _check_cuda13_install(install)


def _check_cuda13_install(install):
    import tomllib
    test_extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["test"]
    others = [r for r in test_extra if not r.startswith("gpuad[")]
    assert others and len(others) < len(test_extra)
    assert ('pip install -e ".[cuda13]" ' + " ".join(f'"{r}"' for r in others)) in install
    assert "gpuad[" not in install and "cu12" not in install


def test_dry_run_plans_every_command_and_writes_nothing(tmp_path):
    out_dir, venv = tmp_path / "out", tmp_path / "venv"
    out = _run(tmp_path, "--dry-run", "--out", str(out_dir), "--venv", str(venv),
               fake=_fake_bin(tmp_path, smi_cuda="12.6", compute_cap="9.0"))
    assert out.returncode == 0, out.stderr
    assert "dry run: nothing is installed, run or written" in out.stdout
    plan = _plan(out.stdout)
    assert list(plan) == STEPS
    py = shlex.quote(str(venv / "bin" / "python"))

    # the GPU tests: the README's marker expression, on the cuda device, stopping in time
    pytest_cmd = plan["pytest"][1]
    assert pytest_cmd.startswith("GPUAD_DEVICE=cuda ")
    assert f'{py} -m pytest -q -m "cuda or cudasim"' in pytest_cmd
    assert "-p bench.pytest_deadline" in pytest_cmd
    assert f"GPUAD_PYTEST_DEADLINE_S={plan['pytest'][0] - 20} " in pytest_cmd

    # the bench: flags the bench's own parser accepts, JSON into the output folder
    bench = shlex.split(plan["bench"][1])
    assert bench[:3] == [str(venv / "bin" / "python"), "-m", "bench"]
    from bench.run import build_parser
    args = build_parser().parse_args(bench[3:])
    assert args.quick and args.device == "cuda" and args.json == str(out_dir / "bench.json")
    assert args.no_first_call

    # the ptxas report: the command of docs/kernels.md, for sm_80 and sm_90 (this GPU's arch)
    ptx = shlex.split(plan["ptxas-report"][1])
    assert ptx[1:3] == ["-m", "gpuad.ptx"]
    assert ptx[3:] == ["--ptx", "--arch", "sm_80,sm_90", "--out", str(out_dir / "ptx"), "--report"]
    help_ = subprocess.run([sys.executable, "-m", "gpuad.ptx", "--help"], cwd=ROOT,
                           capture_output=True, text=True, timeout=60).stdout
    for flag in ("--ptx", "--arch", "--out", "--report"):
        assert flag in help_

    assert plan["demo"][1].endswith("gpuad demo --device cuda")
    assert plan["info"][1].endswith("gpuad info")
    assert "budget 450s" in out.stdout
    assert not out_dir.exists() and not venv.exists()  # nothing written, nothing installed


def test_dry_run_options(tmp_path):
    fake = _fake_bin(tmp_path, smi_cuda="12.4", compute_cap="12.0")
    out = _run(tmp_path, "--dry-run", "--cuda", "13", "--skip-install", fake=fake)
    assert out.returncode == 0, out.stderr
    assert "CUDA 13 (--cuda 13 (detected: nvidia-smi: the driver supports CUDA 12.4))" in out.stdout
    plan = _plan(out.stdout)
    assert "install" not in plan and "skipped (--skip-install)" in out.stdout
    assert "--arch sm_80,sm_90,sm_120 " in plan["ptxas-report"][1]  # this GPU's arch added
    for bad in (["--cuda", "11"], ["--nope"], ["--out"]):
        r = _run(tmp_path, "--dry-run", *bad, fake=fake)
        assert r.returncode == 2 and "gpu_check:" in r.stderr


FAKE_PYTHON = """
echo "python $* GPUAD_DEVICE=${GPUAD_DEVICE:-} DEADLINE=${GPUAD_PYTEST_DEADLINE_S:-}" >> "$CALLS"
case "$*" in
  *"-m pytest"*) echo "1 failed, 3 passed"; exit 1 ;;
  *"-m bench"*) json=$(echo "$*" | sed 's/.*--json \\([^ ]*\\).*/\\1/'); echo '{}' > "$json" ;;
esac
exit 0
"""
FAKE_GPUAD = """
echo "gpuad $*" >> "$CALLS"
case "$*" in demo*) sleep "${DEMO_SLEEP:-0}" ;; esac
exit 0
"""


def _fake_venv(tmp_path) -> Path:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    _exe(venv / "bin" / "python", FAKE_PYTHON)
    _exe(venv / "bin" / "gpuad", FAKE_GPUAD)
    return venv


def test_a_failing_step_does_not_stop_the_others(tmp_path):
    venv, out_dir, calls = _fake_venv(tmp_path), tmp_path / "out", tmp_path / "calls.log"
    r = _run(tmp_path, "--skip-install", "--venv", str(venv), "--out", str(out_dir),
             fake=_fake_bin(tmp_path, smi_cuda="13.0"), env={"CALLS": str(calls)})
    assert r.returncode == 1, r.stdout + r.stderr     # pytest failed
    summary = (out_dir / "summary.txt").read_text()
    status = {line.split()[0]: line.split()[1] for line in summary.splitlines()[3:]}
    assert status == {"host": "ok", "info": "ok", "demo": "ok", "pytest": "failed",
                      "bench": "ok", "ptxas-report": "ok"}, summary
    for step in status:
        assert (out_dir / f"{step}.log").exists()
    assert "1 failed, 3 passed" in (out_dir / "pytest.log").read_text()
    assert "CUDA Version: 13.0" in (out_dir / "host.log").read_text()
    assert (out_dir / "bench.json").read_text().strip() == "{}"
    log = calls.read_text().splitlines()
    assert [line.split()[0:3] for line in log] == [
        ["gpuad", "info"], ["gpuad", "demo", "--device"], ["python", "-m", "pytest"],
        ["python", "-m", "bench"], ["python", "-m", "gpuad.ptx"]]
    assert log[2].endswith("GPUAD_DEVICE=cuda DEADLINE=100")   # the cuda device; stops itself


def test_the_budget_cuts_steps_short(tmp_path):
    venv, out_dir, calls = _fake_venv(tmp_path), tmp_path / "out", tmp_path / "calls.log"
    t0 = time.monotonic()
    r = _run(tmp_path, "--skip-install", "--venv", str(venv), "--out", str(out_dir),
             fake=_fake_bin(tmp_path, smi_cuda="12.2"),
             env={"CALLS": str(calls), "DEMO_SLEEP": "60", "GPU_CHECK_BUDGET_S": "12"})
    took = time.monotonic() - t0
    assert r.returncode == 1
    assert took < 12 + 3, took                 # the budget holds, kill grace included
    summary = (out_dir / "summary.txt").read_text()
    assert "demo         timed out after" in summary
    for step in ("pytest", "bench", "ptxas-report"):
        assert f"{step:<12} skipped (out of time)" in summary
        assert "skipped" in (out_dir / f"{step}.log").read_text()
    assert "-m pytest" not in calls.read_text()


def test_outputs_default_to_a_self_ignored_folder(tmp_path):
    """Without --out the outputs go to gpu_check_out/<UTC timestamp>/ beside bench/, which
    holds a .gitignore of its own so a run leaves git status clean."""
    repo = tmp_path / "repo"
    (repo / "bench").mkdir(parents=True)
    script = repo / "bench" / "gpu_check.sh"
    script.write_text(SCRIPT.read_text())
    venv, calls = _fake_venv(tmp_path), tmp_path / "calls.log"
    e = {"PATH": f"{_fake_bin(tmp_path, smi_cuda='13.0')}:/usr/bin:/bin", "HOME": str(tmp_path),
         "CALLS": str(calls)}
    r = subprocess.run(["bash", str(script), "--skip-install", "--venv", str(venv)],
                       capture_output=True, text=True, env=e, cwd=tmp_path, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr   # the fake pytest fails
    (run_dir,) = [p for p in (repo / "gpu_check_out").iterdir() if p.is_dir()]
    assert run_dir.name.endswith("Z") and len(run_dir.name) == len("20260101-000000Z")
    assert {"summary.txt", "pytest.log", "bench.json", "bench.log"} <= {p.name for p in run_dir.iterdir()}
    assert (repo / "gpu_check_out" / ".gitignore").read_text() == "*\n"
    assert os.access(SCRIPT, os.X_OK)


def test_documented_in_kernels_md_and_readme():
    kernels = (ROOT / "docs" / "kernels.md").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "bench/gpu_check.sh" in kernels and "bench/gpu_check.sh" in readme
    assert "--dry-run" in kernels
    # the doc names the same test selection and timeouts as the script's plan
    assert '-m "cuda or cudasim"' in kernels and '-m "cuda or cudasim"' in readme
    out = subprocess.run(["bash", str(SCRIPT), "--dry-run", "--cuda", "13"], capture_output=True,
                         text=True, timeout=60)
    plan = _plan(out.stdout)
    table = {}
    for line in kernels.split("## The GPU check", 1)[1].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[2].endswith(" s"):
            table[cells[0].strip("`")] = int(cells[2][:-2])
    assert table == {step: t for step, (t, _) in plan.items()}
