"""gpuad from a plain checkout (no ``pip install``): ``kernels/`` resolves as ``gpuad.kernels``.

The repository's ``kernels/`` folder is packaged as ``gpuad.kernels`` by pyproject's
package-dir mapping, which only an install applies (NOTE [kernels from a checkout] in
gpuad/__init__.py). This test copies the working tree's ``gpuad/`` and ``kernels/`` into a
temporary folder and runs a Python that sees that folder and the installed dependencies,
but not an install of gpuad: ``python -S`` (no ``site``), then the site-packages folders
added by hand with their ``.pth`` files processed, except an editable install's.
"""
import json
import os
import shutil
import site
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Run in the child: argv = [checkout, *site-packages folders]. Prints one JSON line.
CHILD = textwrap.dedent(r"""
    import importlib.util, json, os, site, sys

    checkout, sitedirs = sys.argv[1], sys.argv[2:]
    sys.path.insert(0, checkout)

    def is_gpuad_install(d, name):
        # an editable install: setuptools' finder (__editable__*.pth) or a path entry
        # pointing at a folder that holds a gpuad package (setup.py develop, a .pth of
        # the repository root)
        if "editable" in name.lower() or name.lower().startswith("gpuad"):
            return True
        with open(os.path.join(d, name), encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith(("#", "import ", "import\t")):
                    if "editable" in line.lower() or "gpuad" in line.lower():
                        return True
                    continue
                if os.path.isdir(os.path.join(os.path.join(d, line), "gpuad")):
                    return True
        return False

    for d in sitedirs:
        if not os.path.isdir(d):
            continue
        sys.path.append(d)
        for name in sorted(os.listdir(d)):
            if name.endswith(".pth") and not is_gpuad_install(d, name):
                site.addpackage(d, name, None)

    out = {"editable": [m for m in sys.modules if "editable" in m.lower()]
                       + [repr(f) for f in sys.meta_path if "editable" in repr(f).lower()]}
    spec = importlib.util.find_spec("gpuad")
    out["gpuad_origin"] = spec.origin if spec else None
    if out["editable"] or not (spec and spec.origin.startswith(checkout)):
        print(json.dumps(out))
        raise SystemExit(0)

    import numpy as np
    import gpuad as ad
    import gpuad.kernels
    from gpuad import ptx

    out["gpuad"] = ad.__file__
    out["kernels"] = gpuad.kernels.__file__
    out["ptx"] = ptx.__file__
    out["finder"] = any("CheckoutKernelsFinder" in repr(f) for f in sys.meta_path)
    out["other"] = importlib.util.find_spec("gpuad.other") is not None
    out["top_level_kernels_imported"] = "kernels" in sys.modules
    y = ad.jit(lambda x: ad.sin(x) * 2)(ad.ones(3, device="cpu"))
    out["jit"] = np.asarray(y).tolist()
    out["jit_device"] = str(y.device)
    print(json.dumps(out))
""")


def _site_dirs():
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE and site.getusersitepackages():
        dirs.append(site.getusersitepackages())
    return [d for d in dirs if os.path.isdir(d)]


@pytest.mark.parametrize("layout", ["checkout", "wheel"])
def test_gpuad_kernels_and_cpu_jit_from_a_plain_folder(tmp_path, layout):
    """``checkout``: gpuad/ and kernels/ side by side, as in the repository -- the
    checkout finder maps gpuad.kernels to kernels/. ``wheel``: kernels/ also inside
    gpuad/ (where an install puts it) -- gpuad.kernels is that one and no finder is added.
    Either way a sibling package does not become importable as gpuad.<name>."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("gpuad", "kernels"):
        shutil.copytree(os.path.join(ROOT, name), tmp_path / name, ignore=ignore)
    if layout == "wheel":
        shutil.copytree(os.path.join(ROOT, "kernels"), tmp_path / "gpuad" / "kernels",
                        ignore=ignore)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "__init__.py").write_text("")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME",
                                                             "PYTHONSTARTUP")}
    r = subprocess.run([sys.executable, "-S", "-c", CHILD, str(tmp_path), *_site_dirs()],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if out["editable"] or not (out["gpuad_origin"] or "").startswith(str(tmp_path)):
        pytest.skip(f"the child could not avoid an installed gpuad: {out}")
    kernels = tmp_path / "kernels" if layout == "checkout" else tmp_path / "gpuad" / "kernels"
    assert out["gpuad"] == str(tmp_path / "gpuad" / "__init__.py"), out
    assert out["kernels"] == str(kernels / "__init__.py"), out
    assert out["ptx"] == str(tmp_path / "gpuad" / "ptx" / "__init__.py"), out
    assert out["finder"] is (layout == "checkout"), out
    assert out["other"] is False, out
    assert out["top_level_kernels_imported"] is False, out
    assert out["jit_device"] == "cpu", out
    assert out["jit"] == pytest.approx([2 * 0.8414709848078965] * 3, rel=1e-12), out


def test_editable_install_gets_no_checkout_finder():
    """An editable install's own finder maps gpuad.kernels; the checkout finder is not
    added (runs where the tests use an editable install of gpuad)."""
    editable = [f for f in sys.meta_path
                if "gpuad.kernels" in getattr(sys.modules.get(getattr(f, "__module__", "")),
                                              "MAPPING", {})]
    if not editable:
        pytest.skip("gpuad is not an editable install here")
    import gpuad.kernels
    assert not any("CheckoutKernelsFinder" in repr(f) for f in sys.meta_path)
    mapping = sys.modules[editable[0].__module__].MAPPING
    assert gpuad.kernels.__file__ == os.path.join(mapping["gpuad.kernels"], "__init__.py")
