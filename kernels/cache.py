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

NOTE [damaged cache]: a damaged disk cache costs time, never a result or a run.
Module files are written to a temporary file and moved into place (``os.replace``),
so no process sees half a module; one whose bytes differ from the source (truncated,
garbage) is rewritten, and a directory where one should be is moved aside. They are
executed from the source text, never from a ``.pyc``. Numba's own files for the cpu
kernels (``.nbi`` index, ``.nbc`` data, written atomically by Numba) are read through
a robust subclass of Numba's cache class (:func:`robust`, installed by :func:`njit`): one that does not load (``EOFError``,
``UnpicklingError``, ``OverflowError``, a directory in the way, ...) is moved aside
and the kernel compiled again and saved afresh; when even that save fails, the kernel
runs from memory. Each case warns once per process (:class:`GpuadCacheWarning`).
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
import threading
import uuid
import warnings

_lock = threading.RLock()
_modules: dict[str, object] = {}
_memo: dict[tuple, object] = {}
_warned: set = set()
_fallback_dir: list = []  # a private folder, once the cache folder cannot take a module


class GpuadCacheWarning(RuntimeWarning):
    """The on-disk kernel cache was damaged or unusable; gpuad recompiled."""


def _warn_once(kind: str, msg: str) -> None:
    with _lock:
        if kind in _warned:
            return
        _warned.add(kind)
    warnings.warn(msg + " (gpuad recompiles; a damaged kernel cache costs time only)",
                  GpuadCacheWarning, stacklevel=3)


def cache_dir() -> str:
    root = os.environ.get("GPUAD_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "gpuad")
    d = os.path.join(root, "kernels")
    try:
        os.makedirs(d, exist_ok=True)
        if not os.access(d, os.W_OK):
            raise OSError(d)
    except OSError:
        # Read-only home (containers, CI sandboxes), or a file where the folder should
        # be: a private temp folder still gives a real file for Numba's cache locator,
        # just not across machines.
        if os.path.lexists(d) and not os.path.isdir(d) or \
                os.path.lexists(root) and not os.path.isdir(root):
            _warn_once("dir-file", f"gpuad: the kernel cache folder {d} is blocked by a file; "
                       "using a temporary folder")
        d = os.path.join(tempfile.gettempdir(), f"gpuad-kernels-{os.getuid()}")
        try:
            os.makedirs(d, exist_ok=True)
            if not os.access(d, os.W_OK):
                raise OSError(d)
        except OSError:
            d = _private_dir()
    return d


def _private_dir() -> str:
    with _lock:
        if not _fallback_dir:
            _fallback_dir.append(tempfile.mkdtemp(prefix="gpuad-kernels-"))
        return _fallback_dir[0]


def _move_aside(path: str) -> bool:
    """Take ``path`` (a file or a folder) out of the way atomically: renamed first, so
    no reader sees it half removed. False if it could not be moved."""
    tmp = f"{path}.damaged.{uuid.uuid4().hex[:12]}"
    try:
        os.rename(path, tmp)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    if os.path.isdir(tmp) and not os.path.islink(tmp):
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return True


def _write_atomic(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-", suffix=".py")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _module_file(folder: str, modname: str, data: bytes) -> str:
    """The path of ``modname``'s file in ``folder`` holding exactly ``data``, written
    (atomically) when it is missing or differs; OSError if the folder cannot have it."""
    path = os.path.join(folder, modname + ".py")
    try:
        with open(path, "rb") as f:
            if f.read() == data:
                return path
    except IsADirectoryError:
        _warn_once("py-dir", f"gpuad: kernel cache entry {path} is a directory")
        if not _move_aside(path):
            raise
    except OSError:
        pass  # missing (or unreadable): write it
    else:
        if os.path.exists(path):
            _warn_once("py-bad", f"gpuad: kernel cache module {path} was damaged")
    # Atomic write: another process may be importing the same kernel right now.
    try:
        _write_atomic(path, data)
    except IsADirectoryError:  # a folder appeared in between, or could not be moved
        if not _move_aside(path):
            raise
        _write_atomic(path, data)
    return path


def load_source(prefix: str, source: str):
    """Import ``source`` as a module whose file is ``<cache_dir>/<prefix>_<hash>.py``.

    The hash covers the source text, so a changed template never reuses a stale file.
    A damaged entry is rewritten (NOTE [damaged cache]).
    """
    digest = hashlib.sha1(source.encode()).hexdigest()[:16]
    modname = f"gpuad_kernel_{prefix}_{digest}"
    with _lock:
        mod = _modules.get(modname)
        if mod is not None:
            return mod
        data = source.encode()
        folder = cache_dir()
        pycache = os.path.join(folder, "__pycache__")
        if os.path.lexists(pycache) and not os.path.isdir(pycache):
            # Numba would quietly cache elsewhere; put its folder back instead
            _warn_once("pycache-file", f"gpuad: {pycache} is not a folder; moved aside")
            _move_aside(pycache)
        try:
            path = _module_file(folder, modname, data)
        except OSError as e:
            _warn_once("py-dir", f"gpuad: cannot write kernel module {modname} to the cache "
                       f"folder ({e}); using a private folder")
            path = _module_file(_private_dir(), modname, data)
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[modname] = mod
        try:
            # from the text we hold, not from the file or a .pyc someone may have damaged
            exec(compile(source, path, "exec"), mod.__dict__)
        except BaseException:
            sys.modules.pop(modname, None)
            raise
        _modules[modname] = mod
        return mod


# -- Numba's cache files, read so that damage is a miss ---------------------------------
def _robust_cache_class(base):
    class _RobustCache(base):
        """Numba's per-function cache (``base``) where an entry that does not load is
        moved aside and compiled again, and one that cannot be saved is skipped
        (NOTE [damaged cache])."""

        def load_overload(self, sig, target_context):
            try:
                light = _light_load(self, sig, target_context)
                if light is not _REFRESH:
                    return light
                return super().load_overload(sig, target_context)
            except Exception as e:  # noqa: BLE001 - any damage: truncated, garbage, a folder
                _warn_once("numba-load", f"gpuad: Numba cache entry for {self._name} did not "
                           f"load ({type(e).__name__}: {e})")
                self._purge()
                return None

        def save_overload(self, sig, data):
            try:
                super().save_overload(sig, data)
                return
            except Exception as e:  # noqa: BLE001
                _warn_once("numba-save", f"gpuad: Numba cache entry for {self._name} could not "
                           f"be written ({type(e).__name__}: {e}); replacing it")
            self._purge()  # a folder or a damaged index in the way: clear, try once more
            try:
                super().save_overload(sig, data)
            except Exception as e:  # noqa: BLE001
                _warn_once("numba-nosave", f"gpuad: cannot save Numba cache entry for "
                           f"{self._name} ({type(e).__name__}: {e}); kept in memory")

        def _purge(self):
            cf = self._cache_file
            paths = [cf._index_path] + glob.glob(
                os.path.join(glob.escape(cf._cache_path), glob.escape(cf._index_name[:-4]) + ".*.nbc"))
            for p in paths:
                _move_aside(p)

    _RobustCache.__name__ = _RobustCache.__qualname__ = "Robust" + base.__name__
    return _RobustCache


# -- loading a cached cpu kernel without Numba's start-up ------------------------------
# NOTE [light cache load]: before it loads a cached overload, Numba refreshes its cpu
# target context (``BaseContext.refresh``): it imports and installs every implementation
# registry it has (numba.np.arraymath, which imports scipy.linalg to check for a BLAS,
# linalg, random, typed containers, ...). That is about 0.25 s, paid once per process, by
# the first kernel loaded from the disk cache: measured, it was most of a warm first
# call of ``ad.jit`` (0.25-0.5 s, of which tracing 5-50 ms and each further kernel a
# few ms). Loading a kernel needs none of it: the object code is linked against symbols
# (Numba's C helpers, libm, the process's, the runtime's C functions); the C helpers
# are registered when the context is created, and the runtime's names are registered
# here as ``rtsys.initialize`` does (its LLVM part, 25-40 ms, only when a symbol needs
# it: kernels carry their own copies of incref/decref). So a cpu kernel is loaded without the refresh when every symbol its object code
# leaves undefined already resolves (checked in its ELF symbol table, before linking:
# MCJIT aborts the process on a symbol it cannot resolve); anything else (another object
# format, an unresolved symbol, a payload of another shape, ``reload_init`` hooks, a
# Numba whose internals differ) takes Numba's own path, refresh included. A compile
# still refreshes (Numba's compiler does it itself), so only loads are lighter.
# ``GPUAD_LIGHT_CACHE_LOAD=0`` turns it off.
_REFRESH = object()  # "take Numba's own path"
_LIGHT = os.environ.get("GPUAD_LIGHT_CACHE_LOAD", "1") != "0"
_light_stats = {"light": 0, "refresh": 0}  # loads by path (tests, bench/first_call.py)


def _light_load(cache, sig, ctx):
    """The cached overload of ``sig`` (or None on a miss) loaded without refreshing the
    target context, or ``_REFRESH`` when that is not known to be safe (NOTE [light
    cache load])."""
    if not _LIGHT or type(ctx).__name__ != "CPUContext" or not all(
            hasattr(cache, a) for a in ("_index_key", "_impl", "_enabled", "_cache_file")):
        return _REFRESH  # a Numba whose internals differ: its own path
    from numba.core.runtime import nrt
    codegen = ctx.codegen()
    engine = getattr(codegen, "_engine", None)
    if engine is None or not hasattr(engine, "is_symbol_defined"):
        return _REFRESH
    if not cache._enabled:
        return None
    data = cache._cache_file.load(cache._index_key(sig, codegen))
    if data is None:
        return None  # a miss: the dispatcher compiles (and its compiler refreshes)
    try:
        libdata, reload_init = data[0], data[7]
        _, kind, (obj, _bitcode) = libdata
        ok = kind == "object" and not reload_init and isinstance(obj, bytes)
    except (TypeError, ValueError, IndexError):
        ok = False
    if ok:
        undefined = _elf_undefined(obj)
        ok = undefined is not None
        if ok:
            _nrt_symbols()  # the runtime's C functions, which kernels call, by name
            ok = all(_resolves(name, engine) for name in undefined)
            if not ok and not nrt.rtsys._init:
                # the runtime's compiled part too (atomics, incref/decref; kernels
                # usually carry their own copies), then check again
                nrt.rtsys.initialize(ctx)
                ok = all(_resolves(name, engine) for name in undefined)
    if not ok:
        _light_stats["refresh"] += 1
        return _REFRESH
    _light_stats["light"] += 1
    return cache._impl.rebuild(ctx, data)


_nrt_added: list = []


def _nrt_symbols():
    """Register the names of the runtime's C functions (``NRT_...``) with LLVM, as
    ``rtsys.initialize`` does first; its second step, compiling the runtime's LLVM
    module (25-40 ms), is left to when a kernel needs it or Numba compiles."""
    if _nrt_added:
        return
    import llvmlite.binding as ll
    from numba.core import config
    from numba.core.runtime import _nrt_python as _nrt
    if config.NRT_STATS:  # rtsys.initialize also turns statistics on: let it run
        return
    for py_name, address in _nrt.c_helpers.items():
        ll.add_symbol(py_name if py_name.startswith("_") else "NRT_" + py_name, address)
    _nrt_added.append(True)


def _resolves(name, engine):
    import llvmlite.binding as ll
    return bool(ll.address_of_symbol(name)) or engine.is_symbol_defined(name)


def _elf_undefined(obj: bytes):
    """The names of the undefined symbols of a 64-bit little-endian ELF object file, or
    None when ``obj`` is not one (or is malformed)."""
    import struct
    try:
        if obj[:4] != b"\x7fELF" or obj[4] != 2 or obj[5] != 1:
            return None
        shoff, = struct.unpack_from("<Q", obj, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", obj, 0x3A)
        if shentsize != 64 or shnum == 0:
            return None
        sections = [struct.unpack_from("<IIQQQQIIQQ", obj, shoff + k * 64) for k in range(shnum)]
        names = set()
        found = False
        for sh in sections:
            if sh[1] != 2:  # SHT_SYMTAB
                continue
            found = True
            off, size, entsize = sh[4], sh[5], sh[9]
            stroff = sections[sh[6]][4]
            if entsize != 24:
                return None
            for k in range(1, size // 24):
                st_name, _info, _other, shndx = struct.unpack_from("<IBBH", obj, off + 24 * k)
                if shndx == 0 and st_name:  # SHN_UNDEF
                    end = obj.index(b"\0", stroff + st_name)
                    names.add(obj[stroff + st_name:end].decode())
        return names if found else None
    except (struct.error, IndexError, ValueError, UnicodeDecodeError):
        return None


_robust_classes: dict = {}


def robust(dispatcher):
    """Make ``dispatcher``'s disk cache (if it has one) treat damage as a miss."""
    c = getattr(dispatcher, "_cache", None)
    if c is None or not hasattr(c, "_cache_file") or type(c).__name__.startswith("Robust"):
        return dispatcher
    cls = _robust_classes.get(type(c))
    if cls is None:
        cls = _robust_classes.setdefault(type(c), _robust_cache_class(type(c)))
    c.__class__ = cls
    return dispatcher


def njit(*args, **flags):
    """``numba.njit`` for generated kernel modules, whose ``cache=True`` is a
    :func:`robust` disk cache, in place before an eager signature compiles (so that
    compile already reads the cache safely)."""
    import numba
    sigs = None
    if args and not callable(args[0]):
        sigs, args = args[0], args[1:]
        if not isinstance(sigs, list):
            sigs = [sigs]
    cache = flags.pop("cache", False)

    def wrap(fn):
        disp = numba.njit(**flags)(fn)
        if not hasattr(disp, "enable_caching"):  # NUMBA_DISABLE_JIT
            return disp
        if cache:
            disp.enable_caching()
            robust(disp)
        if sigs is not None:
            from numba.core import typeinfer
            with typeinfer.register_dispatcher(disp):
                for sig in sigs:
                    disp.compile(sig)
                disp.disable_compile()
        return disp

    return wrap(args[0]) if args else wrap


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
