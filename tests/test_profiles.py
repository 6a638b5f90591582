"""The test profiles of tests/conftest.py (issue 15): the quick default deselects the tests
marked ``slow``; ``GPUAD_TEST_PROFILE=full`` (CI's, the README's command) runs them all."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

try:
    from . import test_ops
except ImportError:
    import test_ops

ROOT = Path(__file__).resolve().parents[1]


def _readme_test_command():
    text = (ROOT / "README.md").read_text()
    cmds = [line.strip() for line in re.findall(r"```bash\n(.*?)```", text, re.S)
            for line in line.splitlines() if "-m pytest" in line and '.[test]' in line]
    assert len(cmds) == 1, cmds
    return cmds[0]


def test_ci_runs_the_readme_test_command_in_the_full_profile():
    cmd = _readme_test_command()
    assert "GPUAD_TEST_PROFILE=full" in cmd
    run = (ROOT / ".ci" / "run").read_text().splitlines()
    assert cmd in [line.strip() for line in run], "the README's test command is .ci/run's"


def _params(fn):
    (mark,) = [m for m in fn.pytestmark if m.name == "parametrize" and m.args[0] == "spec,device"]
    return mark.args[1]


def _is_slow(p):
    return any(m.name == "slow" for m in p.marks)


OP_TESTS = [name for name in dir(test_ops) if name.startswith("test_")
            and any(m.name == "parametrize" and m.args[0] == "spec,device"
                    for m in getattr(getattr(test_ops, name), "pytestmark", []))]


@pytest.mark.parametrize("name", [n for n in OP_TESTS if n != "test_float32"])
def test_quick_op_tables_keep_every_op_on_cpu(name):
    """Per check of test_ops.py, the quick profile keeps one cpu case of every op of the
    full table; the full profile has every case (the marks only deselect)."""
    params = _params(getattr(test_ops, name))
    ops = {test_ops.op_of(p.values[0]) for p in params}
    quick = {test_ops.op_of(p.values[0]) for p in params if not _is_slow(p) and p.values[1] == "cpu"}
    assert quick == ops, sorted(ops - quick)
    sims = [p for p in params if p.values[1] == "cudasim"]
    if name in ("test_forward", "test_jvp", "test_vjp"):  # the simulator's values and rules
        assert sims and any(not _is_slow(p) for p in sims), "some cudasim case stays quick"


def _collect(env_profile, *args):
    env = dict(os.environ)
    env.pop("GPUAD_TEST_PROFILE", None)
    if env_profile is not None:
        env["GPUAD_TEST_PROFILE"] = env_profile
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
                        *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout + r.stderr


def test_the_switch_deselects_slow_tests_only_in_the_quick_profile():
    f = "tests/test_bench.py"
    rc, out = _collect(None, f)
    assert rc == 0, out
    m = re.search(r"(\d+)/(\d+) tests collected \((\d+) deselected\)", out)
    assert m, out
    quick, total, deselected = map(int, m.groups())
    assert quick > 0 and deselected > 0 and quick + deselected == total
    assert "slow tests deselected; GPUAD_TEST_PROFILE=full runs them" in out
    rc, out = _collect("full", f)
    assert rc == 0 and re.search(rf"\b{total} tests collected in", out), out
    rc, out = _collect(None, "-m", "slow", f)
    assert rc == 0 and re.search(rf"\b{deselected}/{total} tests collected", out), out
    rc, out = _collect(None, f + "::test_gpuad_jit_matches_analytic[kinetics-jacfwd]")  # named: runs
    assert rc == 0 and re.search(r"\b1 tests? collected in", out), out
    rc, out = _collect("fast", f)
    assert rc != 0 and "GPUAD_TEST_PROFILE='fast'" in out, out
