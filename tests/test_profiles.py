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


def _collect_all(runs):
    """``pytest --collect-only`` for each (GPUAD_TEST_PROFILE or None, args), all at once:
    [(returncode, output)]."""
    procs = []
    for env_profile, args in runs:
        env = dict(os.environ)
        env.pop("GPUAD_TEST_PROFILE", None)
        if env_profile is not None:
            env["GPUAD_TEST_PROFILE"] = env_profile
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only", *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = [p.communicate(timeout=300)[0] for p in procs]
    return [(p.returncode, out) for p, out in zip(procs, outs)]


def test_the_switch_deselects_slow_tests_only_in_the_quick_profile():
    f = "tests/test_bench.py"
    (rc, out), (rc_full, out_full) = _collect_all([(None, [f]), ("full", [f])])
    assert rc == 0, out
    m = re.search(r"(\d+)/(\d+) tests collected \((\d+) deselected\)", out)
    assert m, out
    quick, total, deselected = map(int, m.groups())
    assert quick > 0 and deselected > 0 and quick + deselected == total
    assert "slow tests deselected; GPUAD_TEST_PROFILE=full runs them" in out
    assert rc_full == 0 and re.search(rf"\b{total} tests collected in", out_full), out_full


class _Config:
    def __init__(self, markexpr="", args=(), rootpath=ROOT):
        self._markexpr, self.args, self.rootpath = markexpr, list(args), rootpath
        self.deselected = []
        self.hook = type("Hook", (), {"pytest_deselected": lambda _, items: self.deselected.extend(items)})()

    def getoption(self, name, default=None):
        assert name == "markexpr"
        return self._markexpr


class _Item:
    def __init__(self, nodeid, slow):
        self.nodeid, self._slow = nodeid, slow

    def get_closest_marker(self, name):
        return object() if name == "slow" and self._slow else None


def _run(config, ids, monkeypatch, profile=None):
    import conftest
    if profile is None:
        monkeypatch.delenv("GPUAD_TEST_PROFILE", raising=False)
    else:
        monkeypatch.setenv("GPUAD_TEST_PROFILE", profile)
    conftest.pytest_configure(config)
    items = [_Item(i, slow) for i, slow in ids]
    conftest._deselect_slow(config, items)
    return [i.nodeid for i in items], [i.nodeid for i in config.deselected]


IDS = [("tests/t.py::test_a[x]", False), ("tests/t.py::test_a[y]", True), ("tests/t.py::test_b", True)]


def test_an_explicit_marker_expression_or_a_named_test_overrides_the_quick_profile(monkeypatch):
    kept, gone = _run(_Config(), IDS, monkeypatch)
    assert kept == ["tests/t.py::test_a[x]"] and gone == ["tests/t.py::test_a[y]", "tests/t.py::test_b"]
    kept, gone = _run(_Config(), IDS, monkeypatch, "full")
    assert len(kept) == 3 and gone == []
    kept, gone = _run(_Config(markexpr="slow"), IDS, monkeypatch)  # pytest's -m selects then
    assert len(kept) == 3 and gone == []
    kept, gone = _run(_Config(args=[str(ROOT / "tests" / "t.py") + "::test_a"]), IDS, monkeypatch)
    assert kept == ["tests/t.py::test_a[x]", "tests/t.py::test_a[y]"] and gone == ["tests/t.py::test_b"]
    with pytest.raises(pytest.UsageError, match="GPUAD_TEST_PROFILE='fast'"):
        _run(_Config(), IDS, monkeypatch, "fast")
