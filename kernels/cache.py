"""Kernel memoization and the on-disk source cache.

Two layers, as in CuPy (source and binary memoized separately):

* the *source* of a generated kernel is written once to a module file in the cache folder
  (``$GPUAD_CACHE_DIR/kernels``, default ``~/.cache/gpuad/kernels``) and imported from there. Numba refuses
  ``cache=True`` for functions built with ``exec`` ("no locator available for file
  '<string>'"); a function that lives in a real file can be cached, so the CUDA target's
  compiled binary lands in Numba's ``__pycache__`` beside the generated module and a new
  process loads it instead of compiling again;
* the *compiled dispatcher* is memoized in memory by its full signature key
  (see :func:`memoize`).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading

_lock = threading.RLock()
_modules: dict[str, object] = {}
_memo: dict[tuple, object] = {}


def cache_dir() -> str:
    root = os.environ.get("GPUAD_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "gpuad")
    d = os.path.join(root, "kernels")
    try:
        os.makedirs(d, exist_ok=True)
        if not os.access(d, os.W_OK):
            raise OSError(d)
    except OSError:
        # Read-only home (containers, CI sandboxes): a private temp folder still gives
        # a real file for Numba's cache locator, just not across machines.
        d = os.path.join(tempfile.gettempdir(), f"gpuad-kernels-{os.getuid()}")
        os.makedirs(d, exist_ok=True)
    return d


def load_source(prefix: str, source: str):
    """Import ``source`` as a module whose file is ``<cache_dir>/<prefix>_<hash>.py``.

    The hash covers the source text, so a changed template never reuses a stale file.
    """
    digest = hashlib.sha1(source.encode()).hexdigest()[:16]
    modname = f"gpuad_kernel_{prefix}_{digest}"
    with _lock:
        mod = _modules.get(modname)
        if mod is not None:
            return mod
        path = os.path.join(cache_dir(), modname + ".py")
        try:
            with open(path) as f:
                current = f.read()
        except OSError:
            current = None
        if current != source:
            # Atomic write: another process may be importing the same kernel right now.
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                f.write(source)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[modname] = mod
        spec.loader.exec_module(mod)
        _modules[modname] = mod
        return mod


def memoize(key: tuple, build):
    """Return the object cached under ``key``, building it with ``build()`` once."""
    obj = _memo.get(key)
    if obj is None:
        with _lock:
            obj = _memo.get(key)
            if obj is None:
                obj = build()
                _memo[key] = obj
    return obj


def clear_memory() -> None:
    """Forget memoized kernels (the disk cache stays); for tests."""
    with _lock:
        _memo.clear()
