"""A damaged on-disk kernel cache costs time, never a result or a run (issue 11, item 9;
NOTE [damaged cache] in kernels/cache.py).

Each case fills a private cache folder (``GPUAD_CACHE_DIR``) by running a jitted
function in a child process, damages one kind of file (Numba's ``.nbi`` index, its
``.nbc`` data, the generated ``.py`` module: truncated, garbage, empty, or a folder in
its place; or a file where a folder should be), then runs it again in a new process:
the result must be right, with a warning and no exception; a third process finds the
cache repaired (no warning). The in-process path (``load_source`` after the module is
forgotten) is checked the same way, and so are concurrent first writers."""
import glob
import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
import threading
import uuid
import warnings

import pytest

from gpuad.kernels import cache

CHILD = r"""
import json, warnings
import numpy as np
import gpuad as ad
from gpuad.kernels import cache

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", cache.GpuadCacheWarning)
    f = ad.jit(lambda x: ad.sin(x) * ad.exp(-x * x) + x * ad.sum(x))
    ok = True
    # 1e7: beyond vmath's exact sin range, so the kernel's libm twin (compiled on first
    # use, cached in its own files) runs too. 64 x 300: a call too large for a cpu row
    # program, so the plan's fused kernels are what is cached
    for scale in (1.0, 1e7):
        x = np.linspace(-2, 2, 19200).reshape(64, 300) * scale
        held = [f(ad.tensor(x)) for _ in range(3)]
        want = np.sin(x) * np.exp(-x * x) + x * x.sum()
        ok = ok and all(np.allclose(r.numpy(), want, rtol=1e-13, atol=1e-12) for r in held)
    # a small call: one cpu row program, cached in files of its own
    g = ad.jit(lambda x: ad.sin(x) * ad.exp(-x * x) + x * ad.sum(x))
    x = np.linspace(-2, 2, 12).reshape(3, 4) * 1e7
    want = np.sin(x) * np.exp(-x * x) + x * x.sum()
    ok = ok and all(np.allclose(g(ad.tensor(x)).numpy(), want, rtol=1e-13, atol=1e-12)
                    for _ in range(3))
print(json.dumps({"ok": bool(ok), "warnings": [str(w.message) for w in caught
                                             if issubclass(w.category, cache.GpuadCacheWarning)]}))
"""


def _env(root):
    env = dict(os.environ, GPUAD_CACHE_DIR=str(root))
    env.pop("NUMBA_CACHE_DIR", None)  # Numba's files then sit beside the kernel modules
    return env


def _child(root):
    out = subprocess.run([sys.executable, "-c", CHILD], env=_env(root), capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """A cache folder filled by one run (copied for each case)."""
    root = tmp_path_factory.mktemp("filled")
    res = _child(root)
    assert res == {"ok": True, "warnings": []}
    k = root / "kernels"
    # the plan's fused kernel, its libm twin and the row program: an index and a data
    # file each
    assert len(glob.glob(str(k / "*.py"))) >= 1
    assert len(glob.glob(str(k / "__pycache__" / "*.nbi"))) >= 2
    assert len(glob.glob(str(k / "__pycache__" / "*.nbc"))) >= 2
    return root


def _damage(path, how):
    data = open(path, "rb").read()
    if how == "truncate":
        open(path, "wb").write(data[: max(1, len(data) // 3)])
    elif how == "garbage":
        open(path, "wb").write(os.urandom(max(64, len(data))))
    elif how == "empty":
        open(path, "wb").close()
    elif how == "directory":
        os.unlink(path)
        os.mkdir(path)
        open(os.path.join(path, "x"), "w").close()
    else:
        raise AssertionError(how)


_PATTERNS = {"nbi": "__pycache__/*.nbi", "nbc": "__pycache__/*.nbc", "py": "*.py"}


def _leftovers(root):
    return [p for p in glob.glob(str(root / "kernels" / "**" / "*"), recursive=True)
            if ".tmp" in os.path.basename(p) or ".damaged." in p]


# a new process per case (seconds): the quick profile damages each kind of file once and
# does each kind of damage once; the other combinations are slow
_DAMAGE_QUICK = {("py", "empty"), ("py", "directory"), ("nbi", "garbage"), ("nbc", "truncate")}


@pytest.mark.parametrize("kind,how", [
    pytest.param(k, h, marks=() if (k, h) in _DAMAGE_QUICK else pytest.mark.slow, id=f"{k}-{h}")
    for k in ("nbi", "nbc", "py") for h in ("truncate", "garbage", "empty", "directory")])
def test_damaged_file_is_rebuilt_in_a_new_process(filled, tmp_path, kind, how):
    root = tmp_path / "c"
    shutil.copytree(filled, root)
    paths = glob.glob(str(root / "kernels" / _PATTERNS[kind]))
    assert paths
    for p in paths:
        _damage(p, how)
    res = _child(root)
    assert res["ok"]
    assert res["warnings"], "a damaged cache entry should warn"
    assert len(res["warnings"]) == len(set(res["warnings"]))  # each kind once
    # repaired: the next process loads it without a word
    assert _child(root) == {"ok": True, "warnings": []}
    for p in paths:
        assert os.path.isfile(p)
    for p in glob.glob(str(root / "kernels" / "__pycache__" / "*.nbi")):
        with open(p, "rb") as f:
            pickle.load(f)
            pickle.loads(f.read())
    assert _leftovers(root) == []


@pytest.mark.parametrize("where", [pytest.param("pycache", marks=pytest.mark.slow), "kernels",
                                   pytest.param("root", marks=pytest.mark.slow)])  # quick: one
def test_a_file_where_a_folder_should_be(filled, tmp_path, where):
    root = tmp_path / "c"
    shutil.copytree(filled, root)
    target = {"pycache": root / "kernels" / "__pycache__", "kernels": root / "kernels",
              "root": root}[where]
    shutil.rmtree(target)
    target.write_bytes(b"not a folder")
    res = _child(root)
    assert res["ok"] and res["warnings"]
    second = _child(root)
    assert second["ok"]
    if where == "pycache":  # moved aside, so Numba's folder is back and filled
        assert second["warnings"] == []
        assert glob.glob(str(root / "kernels" / "__pycache__" / "*.nbi"))
    else:  # the file stays (it is not ours to remove): a temporary folder, each run
        assert target.read_bytes() == b"not a folder"


def test_concurrent_first_runs_share_one_cache(tmp_path):
    # several processes compile and write the same kernels at once: every one of them
    # runs right, and the files left behind are whole
    procs = [subprocess.Popen([sys.executable, "-c", CHILD], env=_env(tmp_path),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        assert json.loads(out.strip().splitlines()[-1]) == {"ok": True, "warnings": []}
    assert _child(tmp_path) == {"ok": True, "warnings": []}
    assert _leftovers(tmp_path) == []


# -- the same process -----------------------------------------------------------------------
_SRC = """
import numba
from gpuad.kernels.cache import njit


@njit(numba.float64(numba.float64), cache=True)
def eager(x):
    return x * 2.0 + 1.0


@njit(cache=True)
def lazy(x):
    return x * 3.0 - 1.0
"""


def _fresh_load(src):
    """``load_source`` as a new process would do it: the module forgotten first."""
    modname = "gpuad_kernel_t_" + __import__("hashlib").sha1(src.encode()).hexdigest()[:16]
    cache._modules.pop(modname, None)
    sys.modules.pop(modname, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", cache.GpuadCacheWarning)
        mod = cache.load_source("t", src)
        assert mod.eager(2.0) == 5.0 and mod.lazy(2.0) == 5.0
    return mod, [w for w in caught if issubclass(w.category, cache.GpuadCacheWarning)]


@pytest.mark.parametrize("how", ["truncate", "garbage", "empty", "directory"])
def test_damaged_numba_files_in_the_same_process(tmp_path, monkeypatch, how):
    monkeypatch.setenv("GPUAD_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(cache, "_warned", set())
    src = _SRC + f"# {uuid.uuid4().hex}\n"
    mod, caught = _fresh_load(src)
    assert caught == []
    assert type(mod.eager._cache).__name__.startswith("Robust")
    files = glob.glob(str(tmp_path / "kernels" / "__pycache__" / "*.nb[ic]"))
    assert len(files) == 4  # two functions, an index and a data file each
    for p in files:
        _damage(p, how)
    _, caught = _fresh_load(src)
    assert caught
    monkeypatch.setattr(cache, "_warned", set())
    _, caught = _fresh_load(src)
    assert caught == []
    for p in files:
        assert os.path.isfile(p)


@pytest.mark.parametrize("how", ["truncate", "garbage", "directory"])
def test_damaged_module_in_the_same_process(tmp_path, monkeypatch, how):
    monkeypatch.setenv("GPUAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cache, "_warned", set())
    src = _SRC + f"# {uuid.uuid4().hex}\n"
    _fresh_load(src)
    (path,) = glob.glob(str(tmp_path / "kernels" / "*.py"))
    _damage(path, how)
    _, caught = _fresh_load(src)
    assert caught
    assert open(path).read() == src


def test_threads_load_one_module(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUAD_CACHE_DIR", str(tmp_path))
    src = textwrap.dedent("""
        def f(x):
            return x + 1
    """) + f"# {uuid.uuid4().hex}\n"
    got, errors = [], []

    def work():
        try:
            got.append(cache.load_source("thr", src))
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(got) == 8 and all(m is got[0] for m in got)
    assert got[0].f(1) == 2
