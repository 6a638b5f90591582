"""``gpuad.dask``: a batched gpuad function over dask arrays chunked along the batch.

A batch that outgrows one device is a ``dask.array`` chunked along its batch axis; each
chunk is one call of the compiled batched function on the worker that holds it, and the
result is a ``dask.array`` again (``pip install gpuad[dask]``)::

    import dask.array as da
    import gpuad as ad
    import gpuad.dask

    Y = da.from_array(y, chunks=(100_000, 20))              # B rows of 20 species
    J = gpuad.dask.map_batches(ad.jit(ad.vmap(ad.jacfwd(rhs))), Y)
    J.compute()                                               # (B, 20, 20)

Dask schedules, retries lost work and moves the data; gpuad only says what one chunk
is. Nothing else in gpuad imports this module, so ``import gpuad`` never loads dask.

NOTE [one function per worker]: the function is pickled once on the client
(cloudpickle) and travels as one graph key, shipped to each worker once. A worker
unpickles it on the first chunk it runs and keeps it in a small per-process cache keyed
by (the function's token, the chunk's device), so an ``ad.jit`` function keeps its
compiled plans across tasks: a worker traces once per chunk signature (the shapes of
its chunks; uneven chunks make two), never once per task. The kernels' disk cache
(``GPUAD_CACHE_DIR``, default ``~/.cache/gpuad``) is one folder per host, written
atomically (``kernels/cache.py``), so the workers of a host share compiled kernels.
A ``JitFunction`` pickles as its function and static arguments: compiled plans belong
to one process.

NOTE [constants follow the chunk]: gpuad tensors the function closes over (rate
constants, network weights) are pickled as host arrays and rebuilt on the device of
the chunk that calls them, once per worker and device (NOTE [one function per worker]).
A client without a GPU can therefore build the function with cpu constants and run it
on GPU workers: every operand of a gpuad op must be on one device anyway.

NOTE [the worker's GPU]: dask-cuda's ``LocalCUDACluster`` and ``dask cuda worker``
start one worker process per GPU and give each its own ``CUDA_VISIBLE_DEVICES`` with
its GPU first (``dask_cuda.utils.cuda_visible_devices``: worker 2 of four gets
``"2,3,0,1"``). CUDA numbers the visible devices of a process from 0, so a worker's own
GPU is device 0 there, which gpuad names ``"cuda"`` (NOTE [device names] in
``gpuad.backends``): :func:`worker_device`. Chunks themselves run where they live,
never copied: a CuPy chunk on its GPU, a NumPy chunk on the cpu; :func:`to_device`
puts NumPy chunks on their worker's GPU once.
"""
from __future__ import annotations

import io
import operator
import os
import pickle
import threading
from collections import OrderedDict

import numpy as np

try:
    import cloudpickle
    import dask.array as da
    from dask.array.dispatch import concatenate_lookup
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph
except ImportError as e:  # the optional extra is missing
    raise ImportError(f"gpuad.dask needs dask[array] and cloudpickle (pip install gpuad[dask]): "
                      f"{e}") from e

from .backends import canonical, check_name, get_backend, simcupy
from .errors import DeviceUnavailableError, GpuadTypeError, GpuadValueError
from .jit import JitFunction
from .ops.creation import tensor
from .pytree import tree_flatten, tree_unflatten
from .tensor import Tensor

__all__ = ["map_batches", "worker_device", "to_device", "cache_info"]

_PROBE_ROWS = (1, 2)  # NOTE [output chunks from a probe]


# NOTE [output chunks from a probe]: dask needs each output's chunks and dtype before
# anything runs. They come from the function itself, run eagerly on the cpu on 1 and
# on 2 rows of ones (the un-jitted function: nothing is compiled on the client). An
# output axis whose length is the same at both sizes is not a batch axis; the one
# axis whose length doubles is, and an output chunk has rows * (its length at 1 row)
# along it. gpuad gives the same shapes and dtypes on every device.
def map_batches(func, *args, in_dims=0):
    """Apply the batched gpuad function ``func`` to dask arrays chunked along their batch
    axis, chunk by chunk, on the workers: returns a dask array, or a pytree of dask
    arrays mirroring ``func``'s output.

    ``func`` takes the batch (``ad.jit(ad.vmap(ad.jacfwd(f)))``, any function of gpuad
    tensors whose outputs are batched along one axis). ``in_dims`` says, per argument,
    which axis is the batch (an int for all, or a tuple with one entry per argument);
    ``None`` broadcasts that argument, whole, to every chunk (a dask array is gathered
    into one chunk for that; NumPy arrays and Python values go as they are). Batched
    arguments must be dask arrays split along their batch axis only, all with the same
    chunks there; otherwise ``GpuadValueError``, before anything is scheduled.

    >>> import dask, dask.array as da, numpy as np, gpuad as ad, gpuad.dask
    >>> Y = da.from_array(np.ones((10, 3)), chunks=(4, 3))
    >>> J = gpuad.dask.map_batches(ad.jit(ad.vmap(ad.jacfwd(ad.sin))), Y)
    >>> J.shape, J.chunks[0]
    ((10, 3, 3), (4, 4, 2))
    >>> with dask.config.set(scheduler="synchronous"):
    ...     bool(np.allclose(J.compute()[:, 0, 0], np.cos(1.0)))
    True
    """
    if not callable(func):
        raise GpuadTypeError(f"map_batches: argument 'func' must be callable, got "
                             f"{type(func).__name__}")
    dims = _normalize_in_dims(in_dims, args)
    batched = [i for i, d in enumerate(dims) if d is not None]
    chunks = _check_batches(args, dims, batched)  # also makes dims non-negative
    dims = tuple(dims)
    meta = args[batched[0]]._meta
    blob = _dumps(func)
    fn_token = tokenize(blob)  # the workers' cache key: the same function, whatever the data
    token = tokenize(fn_token, args, dims)
    kinds = tuple("b" if d is not None else "a" if _is_array(a) else "o"
                  for a, d in zip(args, dims))
    name = getattr(func, "__name__", type(func).__name__)

    out_leaves, out_td = _probe(blob, args, dims, kinds, name)
    outs = []  # (axis, rows per chunk row, shape at 1 row, dtype) per output leaf
    for k, (one, two) in enumerate(out_leaves):
        outs.append(_batch_axis(one, two, k, name))

    # The graph: one key holds the pickled function (NOTE [one function per worker]),
    # one each broadcast value, one task per chunk. A single output is the chunk tasks'
    # own layer; several are a tuple per chunk and one getitem layer per output.
    fn_key = "gpuad-fn-" + fn_token
    layer = {fn_key: blob}
    run = f"gpuad-map-batches-{name.strip('<>')}-{token}"
    single = len(outs) == 1
    run_layer = f"{run}-0" if single else run
    deps, inputs = [], []
    for i, (a, d, kind) in enumerate(zip(args, dims, kinds)):
        if isinstance(a, da.Array):
            if kind != "b" and a.npartitions > 1:
                a = a.rechunk(a.shape)  # broadcast: the whole array in one chunk
            deps.append(a)
            inputs.append((a.name, d, a.ndim))
        else:
            key = f"gpuad-const-{i}-{token}"
            layer[key] = _Const(a)
            inputs.append(key)
    starts = np.concatenate([[0], np.cumsum(chunks)]).astype(int).tolist()
    for j in range(len(chunks)):
        task_args = [inp if isinstance(inp, str) else
                     (inp[0],) + tuple(j if ax == inp[1] else 0 for ax in range(inp[2]))
                     for inp in inputs]
        shapes = tuple(_chunk_shape(o, chunks[j]) for o in outs)
        key = (run_layer, *_block(outs[0], j)) if single else (run_layer, j)
        layer[key] = (_run_chunk, fn_key, fn_token, kinds, shapes, (starts[j], starts[j + 1]),
                      *task_args)
    graph = HighLevelGraph.from_collections(run_layer, layer, dependencies=deps)

    arrays = []
    for k, o in enumerate(outs):
        axis, per_row, shape1, dtype = o
        out_chunks = tuple(tuple(c * per_row for c in chunks) if ax == axis else (n,)
                           for ax, n in enumerate(shape1))
        meta_k = _empty_like(meta, len(shape1), dtype)
        if single:
            arrays.append(da.Array(graph, run_layer, out_chunks, meta=meta_k))
            continue
        out_name = f"{run}-{k}"
        getters = {(out_name, *_block(o, j)): (operator.getitem, (run, j), k)
                   for j in range(len(chunks))}
        g = HighLevelGraph({**graph.layers, out_name: getters},
                           {**graph.dependencies, out_name: {run}})
        arrays.append(da.Array(g, out_name, out_chunks, meta=meta_k))
    return tree_unflatten(out_td, arrays)


# -- validation (before anything is scheduled) ----------------------------------------------
def _is_array(x):
    return isinstance(x, (da.Array, np.ndarray, Tensor)) or hasattr(x, "__cuda_array_interface__")


def _normalize_in_dims(in_dims, args):
    n = len(args)
    if n == 0:
        raise GpuadValueError("map_batches: no arguments: pass the dask arrays to map "
                              "after the function")

    def ok(d):
        return d is None or (isinstance(d, int) and not isinstance(d, bool))
    if ok(in_dims):
        return [in_dims] * n
    if not isinstance(in_dims, (tuple, list)):
        raise GpuadTypeError(f"map_batches: in_dims must be an int, None, or a tuple with "
                             f"one int or None per argument, got {type(in_dims).__name__}")
    if len(in_dims) != n:
        raise GpuadValueError(f"map_batches: in_dims has {len(in_dims)} entries but {n} "
                              f"argument(s) were passed: give one int or None per argument")
    for i, d in enumerate(in_dims):
        if not ok(d):
            raise GpuadTypeError(f"map_batches: in_dims[{i}] must be an int or None, got {d!r}")
    return list(in_dims)


def _check_batches(args, dims, batched):
    """The chunks of the batch axis, after checking every argument against them."""
    if not batched:
        raise GpuadValueError("map_batches: every in_dims entry is None, so no argument is "
                              "batched; at least one must be a dask array split along its "
                              "batch axis")
    ref = None
    for i in batched:
        a, d = args[i], dims[i]
        if not isinstance(a, da.Array):
            raise GpuadTypeError(
                f"map_batches: argument {i} is batched (in_dims[{i}] = {d}) so it must be a "
                f"dask array chunked along that axis, got {type(a).__name__}; wrap it with "
                f"dask.array.from_array, or give it in_dims None to broadcast it")
        if not -a.ndim <= d < max(a.ndim, 1) or a.ndim == 0:
            raise GpuadValueError(f"map_batches: in_dims[{i}] = {d} is out of range for "
                                  f"argument {i} of shape {a.shape}")
        d = dims[i] = d % a.ndim
        if any(np.isnan(c) for c in a.chunks[d]):
            raise GpuadValueError(f"map_batches: argument {i} has unknown chunk sizes along its "
                                  f"batch axis {d}; call .compute_chunk_sizes() first")
        for ax, c in enumerate(a.chunks):
            if ax != d and len(c) > 1:
                raise GpuadValueError(
                    f"map_batches: argument {i} (shape {a.shape}) is split along axis {ax} into "
                    f"chunks {c}, but only its batch axis {d} may be split: a chunk must hold "
                    f"whole rows. Rechunk it: arg.rechunk({{{ax}: -1}})")
        if ref is None:
            ref = (i, d, a.chunks[d], type(a._meta))
            continue
        i0, d0, c0, meta0 = ref
        if a.shape[d] != sum(c0):
            raise GpuadValueError(
                f"map_batches: the batch sizes differ: argument {i0} has {sum(c0)} rows along "
                f"axis {d0}, argument {i} has {a.shape[d]} along axis {d}")
        if a.chunks[d] != c0:
            raise GpuadValueError(
                f"map_batches: the batch axes are chunked differently: argument {i0} has chunks "
                f"{c0} along axis {d0}, argument {i} has {a.chunks[d]} along axis {d}; rechunk "
                f"one like the other: arg.rechunk({{{d}: {c0}}})")
        if type(a._meta) is not meta0:
            raise GpuadValueError(
                f"map_batches: argument {i0} has {meta0.__module__}.{meta0.__name__} chunks but "
                f"argument {i} has {type(a._meta).__module__}.{type(a._meta).__name__} chunks; "
                f"put every batched argument on one kind of device (gpuad.dask.to_device)")
    return ref[2]


def _probe(blob, args, dims, kinds, name):
    """((shape, dtype) at 1 row, at 2 rows) per output leaf, and the output tree (NOTE
    [output chunks from a probe])."""
    fn = _loads(blob, "cpu")
    if isinstance(fn, JitFunction):
        fn = fn.func  # eager: compiling belongs on the workers
    results = []
    for rows in _PROBE_ROWS:
        call = []
        for a, d, kind in zip(args, dims, kinds):
            if kind == "b":
                shape = list(a.shape)
                shape[d % a.ndim] = rows
                call.append(tensor(np.ones(shape, a.dtype), device="cpu"))
            elif kind == "a":
                call.append(tensor(np.ones(a.shape, a.dtype), device="cpu"))
            else:
                call.append(a)
        try:
            out = fn(*call)
        except Exception as e:
            _note(e, f"gpuad.dask.map_batches: raised by {name} on a {rows}-row probe of ones "
                     f"(on the client, to infer the output chunks; nothing was scheduled)")
            raise
        leaves, td = tree_flatten(out)
        for k, x in enumerate(leaves):
            if not hasattr(x, "shape") or not hasattr(x, "dtype"):
                raise GpuadTypeError(f"map_batches: output leaf {k} of {name} is a "
                                     f"{type(x).__name__}, not a tensor; every output must be "
                                     f"a batched tensor")
        results.append([(tuple(x.shape), np.dtype(x.dtype)) for x in leaves])
    return list(zip(*results)), td


def _batch_axis(one, two, k, name):
    (s1, dt1), (s2, dt2) = one, two
    moved = [ax for ax, (a, b) in enumerate(zip(s1, s2)) if a != b] if len(s1) == len(s2) else None
    if not moved or len(moved) > 1 or s2[moved[0]] != 2 * s1[moved[0]] or dt1 != dt2:
        raise GpuadValueError(
            f"map_batches: output leaf {k} of {name} has shape {s1} for 1 row and {s2} for 2 "
            f"rows: map_batches needs every output batched along exactly one axis (a vmap "
            f"output), so that each chunk's output is that axis's slice")
    axis = moved[0]
    return axis, s1[axis], s1, dt1


def _chunk_shape(out, rows):
    axis, per_row, shape1, _ = out
    return tuple(rows * per_row if ax == axis else n for ax, n in enumerate(shape1))


def _block(out, j):
    axis, _, shape1, _ = out
    return tuple(j if ax == axis else 0 for ax in range(len(shape1)))


def _empty_like(meta, ndim, dtype):
    """An empty array of ``meta``'s array type (NumPy, CuPy, the simulator's)."""
    if isinstance(meta, np.ndarray):
        return np.empty((0,) * ndim, dtype)
    if type(meta) is simcupy.ndarray:
        return simcupy.empty((0,) * ndim, dtype)
    import cupy
    return cupy.empty((0,) * ndim, dtype)


# -- the function's journey (NOTE [one function per worker], [constants follow the chunk]) ---
class _Pickler(cloudpickle.Pickler):
    def persistent_id(self, obj):
        if type(obj) is Tensor:
            host = get_backend(obj.device).to_numpy(obj._data)
            return ("gpuad.Tensor", np.asarray(host), obj.requires_grad)
        return None

    def reducer_override(self, obj):
        if type(obj) is JitFunction:  # its plans and lock belong to this process
            return JitFunction, (obj.func, obj.static_argnums)
        return super().reducer_override(obj)


class _Unpickler(pickle.Unpickler):
    def __init__(self, data, device):
        super().__init__(io.BytesIO(data))
        self._device = device

    def persistent_load(self, pid):
        tag, host, requires_grad = pid
        if tag != "gpuad.Tensor":
            raise pickle.UnpicklingError(f"gpuad.dask: unknown persistent id {tag!r}")
        return tensor(host, device=self._device, requires_grad=requires_grad)


def _dumps(func):
    buf = io.BytesIO()
    try:
        _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(func)
    except Exception as e:
        raise GpuadTypeError(f"map_batches: the function cannot be pickled for the workers "
                             f"({type(e).__name__}: {e})") from e
    return buf.getvalue()


def _loads(blob, device):
    return _Unpickler(blob, device).load()


class _Entry:
    __slots__ = ("fn", "calls")

    def __init__(self, fn):
        self.fn, self.calls = fn, 0


_functions: OrderedDict = OrderedDict()  # (token, device) -> _Entry, this process's
_functions_lock = threading.Lock()
_MAX_FUNCTIONS = 32


def _function(blob, token, device):
    key = (token, device)
    with _functions_lock:
        entry = _functions.get(key)
        if entry is None:
            entry = _functions[key] = _Entry(_loads(blob, device))
            while len(_functions) > _MAX_FUNCTIONS:
                _functions.popitem(last=False)
        else:
            _functions.move_to_end(key)
        entry.calls += 1
    return entry.fn


def cache_info():
    """The functions this process holds for ``map_batches`` (NOTE [one function per
    worker]): one dict per function and device, with the chunks it ran (``calls``) and,
    for a jit function, how often it traced (``trace_count``). On a cluster:
    ``client.run(gpuad.dask.cache_info)``."""
    with _functions_lock:
        return [{"function": getattr(e.fn, "__name__", type(e.fn).__name__), "device": dev,
                 "calls": e.calls, "trace_count": getattr(e.fn, "trace_count", None)}
                for (_, dev), e in _functions.items()]


# -- one chunk, on a worker -------------------------------------------------------------------
def _chunk_device(chunk):
    """Where a chunk lives, as a gpuad device name: NumPy on the cpu, CuPy and the
    simulator's arrays on their device."""
    if isinstance(chunk, np.ndarray):
        return "cpu"
    if type(chunk) is simcupy.ndarray:
        return canonical("cudasim", chunk.device.id)
    if type(chunk).__module__.startswith("cupy"):
        return canonical("cuda", chunk.device.id)
    raise GpuadTypeError(f"map_batches: a chunk is a {type(chunk).__name__}; chunks must be "
                         f"NumPy or CuPy arrays")


def _as_tensor(x, device):
    if isinstance(x, Tensor):
        return x if x.device == device else x.to(device)
    be = get_backend(device)
    with be.activate():
        return Tensor._make(be.asarray(x), device)  # the chunk itself where it lives


class _Const:
    """A broadcast value in the graph, opaque to dask: a tuple that starts with a
    callable, or a string that names a key, would otherwise be read as a task."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __reduce__(self):
        return _Const, (self.value,)


def _run_chunk(blob, token, kinds, shapes, rows, *args):
    """One chunk: ``func`` on the arguments' chunks, on the device they live on; returns
    the outputs' device arrays (a tuple for several), never a host copy."""
    device = _chunk_device(next(a for a, k in zip(args, kinds) if k == "b"))
    fn = _function(blob, token, device)
    args = [a.value if type(a) is _Const else a for a in args]
    call = [_as_tensor(a, device) if k != "o" else a for a, k in zip(args, kinds)]
    try:
        out = fn(*call)
    except Exception as e:
        _note(e, f"gpuad.dask.map_batches: raised by "
                 f"{getattr(fn, '__name__', 'the function')} on rows "
                 f"{rows[0]}:{rows[1]} on device {device!r}, worker process {os.getpid()}")
        raise
    leaves, _ = tree_flatten(out)
    res = [x._data if isinstance(x, Tensor) else x for x in leaves]
    got = tuple(tuple(r.shape) for r in res)
    if got != shapes:
        raise GpuadValueError(
            f"map_batches: {getattr(fn, '__name__', 'the function')} returned shapes {got} for "
            f"rows {rows[0]}:{rows[1]}, but the probe on 1 and 2 rows implies {shapes}; "
            f"its output shapes must follow the number of rows")
    return res[0] if len(res) == 1 else tuple(res)


def _note(e, msg):
    if hasattr(e, "add_note"):  # Python 3.11+; notes travel with the pickled exception
        e.add_note(msg)


# -- devices (NOTE [the worker's GPU]) ----------------------------------------------------------
def worker_device(kind="cuda", environ=None):
    """The gpuad device of this worker's own GPU of ``kind`` (``"cuda"``, or ``"cudasim"``
    in tests; ``"cpu"`` is ``"cpu"``), from ``CUDA_VISIBLE_DEVICES`` as dask-cuda sets it
    (NOTE [the worker's GPU]): the worker's GPU is listed first and CUDA numbers it 0, so
    the answer is ``kind`` itself. Without the variable the process sees every GPU and
    the current one is its own. ``environ`` replaces ``os.environ`` (tests)."""
    name = check_name(kind, "worker_device")
    if ":" in name:
        raise GpuadValueError(f"worker_device: argument 'kind' must be a device kind "
                              f"('cpu', 'cudasim', 'cuda'), got {kind!r}")
    if name == "cpu":
        return "cpu"
    env = os.environ if environ is None else environ
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return canonical(name, get_backend(name).xp.cuda.runtime.getDevice())
    first = visible.split(",")[0].strip()
    if not first or first.startswith("-"):  # CUDA stops at the first invalid entry
        raise DeviceUnavailableError(
            f"worker_device: CUDA_VISIBLE_DEVICES={visible!r} hides every GPU from this "
            f"worker process")
    return name


def _chunk_to_device(chunk, kind):
    device = worker_device(kind)
    be = get_backend(device)
    with be.activate():
        return be.asarray(chunk)


def to_device(x, kind="cuda"):
    """``x`` (a dask array of NumPy chunks) with each chunk copied once to its worker's
    own GPU (:func:`worker_device`): a dask array of CuPy chunks (of the simulator's
    arrays for ``kind="cudasim"``) that ``map_batches`` then runs where they are."""
    if not isinstance(x, da.Array):
        raise GpuadTypeError(f"to_device: argument 'x' must be a dask array, got "
                             f"{type(x).__name__}")
    name = check_name(kind, "to_device")
    if name == "cpu":
        return x
    meta = simcupy.empty((0,) * x.ndim, x.dtype) if name == "cudasim" else None
    if meta is None:
        import cupy
        meta = cupy.empty((0,) * x.ndim, x.dtype)
    return x.map_blocks(_chunk_to_device, name, dtype=x.dtype, meta=meta)


# The simulator's arrays are dask chunks as CuPy's are (dask registers CuPy itself): a
# computed result is their concatenation, on the device.
@concatenate_lookup.register(simcupy.ndarray)
def _concatenate_simcupy(arrays, axis=0):
    return simcupy.concatenate(list(arrays), axis=axis)
