"""Compile every kernel gpuad can emit to PTX, without a GPU; optionally ``ptxas -v`` them.

``python -m gpuad.ptx --ptx --arch sm_80,sm_90 --out DIR [--report]``

Instances (see :func:`instances`):

* an elementwise kernel per pointwise expression of :data:`POINTWISE` (expressions and
  input kinds read from ``gpuad.primitive.registry``, plus the ``clip`` composite; every
  other registry primitive with an expression is added), in float32 and float64, *without* a tangent batch (a general
  broadcast over a 2-d output) and *with* one (one more leading broadcast dimension,
  3-d: the tangent/basis directions are a grid dimension, never a per-thread loop, so the
  register count does not depend on the number of directions);
* the reduction template for sum/prod/max/min, float32 and float64, warp-shuffle and
  shared-memory-tree variants, 256 threads per block, and the column-reduction template
  (leading axes) for the same ops and dtypes;
* the small linear algebra kernels det/inv/solve for k = 2, 3, 4, 8, float32 and float64;
* the multi-output fused kernels ``gpuad.jit`` generates for representative programs
  (one per fused group, see :func:`_fused_extras`), float32 and float64;
* anything registered with :func:`register_instance`.

``numba.cuda.compile_ptx`` runs Numba's NVVM through NVIDIA's NVRTC wheel; no driver or
device is involved. Instances are compiled in a process pool, one task per instance for all
architectures (Numba's typing is shared across them, so the second arch is nearly free).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np

from gpuad.ops.pointwise import (  # (the unary ones are made in a loop there)
    abs_p, acos_p, acosh_p, add_p, asin_p, asinh_p, atan2_p, atan_p, atanh_p, cos_p, cosh_p,
    div_p, erf_p, exp2_p, exp_p, expm1_p, log10_p, log1p_p, log2_p, log_p, maximum_p,
    minimum_p, mul_p, neg_p, pow_p, reciprocal_p, sigmoid_p, sign_p, sin_p, sinh_p, sqrt_p,
    square_p, sub_p, tan_p, tanh_p, where_p)
from gpuad.primitive import registry  # filled by ``import gpuad`` (this package's parent)

# The registry primitives with their own elementwise instances, tests and reference
# values (tests/test_kernels.py), in the order of the instance list, as objects: their
# expressions and input kinds are read from them, never copied here; every other registry
# expression is added by :func:`_registry_extras`. ``clip`` is the one entry that is not
# a registry primitive: the composite min(max(x, lo), hi).
_CLIP = ("min(max(a0, a1), a2)", "fff")
_TABLE_PRIMITIVES = (
    sin_p, cos_p, tan_p, asin_p, acos_p, atan_p, atan2_p, sinh_p, cosh_p, tanh_p, asinh_p,
    acosh_p, atanh_p, exp_p, exp2_p, expm1_p, log_p, log2_p, log10_p, log1p_p, sqrt_p,
    square_p, reciprocal_p, abs_p, sign_p, sigmoid_p, pow_p, maximum_p, minimum_p, where_p,
    "clip", erf_p, add_p, sub_p, mul_p, div_p, neg_p,
)


def _input_kinds(p) -> str:
    """One letter per input of a registry primitive's expression: "b" (bool) for a
    condition (``where``'s first input: a non-differentiable argument) and for every
    input of a logical op (logical_and/or/not), "f" (float) otherwise -- a differentiable
    expression with a condition in it (rint's "or", xlogy's "and") takes floats."""
    arity = 1 + max(int(i) for i in re.findall(r"\ba(\d+)\b", p.expr))
    if not p.differentiable and re.search(r"\b(and|or|not)\b", p.expr):
        return "b" * arity
    return "".join("b" if i in p.nondiff_args else "f" for i in range(arity))


def _pointwise_table() -> dict:
    out = {}
    for p in _TABLE_PRIMITIVES:
        if p == "clip":
            out[p] = _CLIP
        elif not p.expr:
            raise RuntimeError(f"gpuad.ptx: {p.name!r} has no kernel expression; "
                               "update _TABLE_PRIMITIVES")
        else:
            out[p.name] = (p.expr, _input_kinds(p))
    return out


# name -> (kernel expression, input kinds: "f" float, "b" bool), built from the registry
POINTWISE = _pointwise_table()

REDUCE_OPS = ("sum", "prod", "max", "min")
LINALG_K = (2, 3, 4, 8)
DTYPES = ("float32", "float64")
REDUCE_BLOCK = 256
_EXTRA: list[tuple[str, object, tuple]] = []


def register_instance(name: str, pyfn, argtypes: tuple) -> None:
    """Add a kernel (a plain Python kernel function in a module file, and its Numba
    argument types) to what the PTX command compiles."""
    _EXTRA.append((name, pyfn, argtypes))


def _registry_extras() -> dict:
    """Registry pointwise expressions missing from :data:`POINTWISE`, by name."""
    known = {e for e, _ in POINTWISE.values()}
    out = {}
    for name, p in sorted(registry.items()):
        expr = getattr(p, "expr", None)
        if not expr or expr in known or name in POINTWISE:
            continue
        out[name] = (expr, _input_kinds(p), bool(p.differentiable))
    return out


def _fused_extras() -> dict:
    """Fused kernels ``gpuad.jit`` emits for representative programs, one multi-output
    kernel per fused group: the bench's pointwise function under jit(vmap(jacfwd)) and
    jit(vmap(jacrev)), a tanh MLP's input Hessian and a 3x3 neo-Hookean energy's Hessian
    (component reads F[:, i, j]: strided inputs, dozens of outputs per kernel)."""
    try:
        import gpuad as ad
        from gpuad.jit import fused_programs
    except Exception:
        return {}

    def pointwise(x):
        return ad.sin(x) * ad.exp(-x ** 2) + x * ad.sum(x)

    def mlp(x):
        w = ad.tensor(np.linspace(-1, 1, 16).reshape(8, 2))
        return ad.sum(ad.tanh(w @ x) ** 2)

    def neohookean(F):
        J = (F[0, 0] * (F[1, 1] * F[2, 2] - F[1, 2] * F[2, 1])
             - F[0, 1] * (F[1, 0] * F[2, 2] - F[1, 2] * F[2, 0])
             + F[0, 2] * (F[1, 0] * F[2, 1] - F[1, 1] * F[2, 0]))
        lnJ = ad.log(J)
        return 0.65 * (ad.sum(F * F) - 3.0) - 1.3 * lnJ + 1.05 * lnJ * lnJ

    F = np.eye(3) + 0.1 * np.arange(18.0).reshape(2, 3, 3) / 18.0
    progs = {"pointwise_jacfwd": (ad.vmap(ad.jacfwd(pointwise)), ad.ones(4, 16)),
             "pointwise_jacrev": (ad.vmap(ad.jacrev(pointwise)), ad.ones(4, 16)),
             "mlp_hessian": (ad.vmap(ad.hessian(mlp)), ad.ones(4, 2)),
             "neohookean_hessian": (ad.vmap(ad.hessian(neohookean)), ad.tensor(F))}
    out, seen = {}, set()
    for name, (fn, arg) in progs.items():
        for label, stmts, outs, kinds, out_kinds, ndim in fused_programs(fn, arg):
            key = (stmts, outs, kinds, out_kinds, ndim)
            if key in seen:
                continue
            seen.add(key)
            out[f"fused_{name}_{label}"] = (stmts, outs, kinds, out_kinds, ndim)
    # shared subexpressions, a float and a bool output of one kernel
    out["fused_multi_sin_mask"] = ((("v0", "math.sin(a0)"), ("v1", "v0 * v0 + a1"),
                                    ("v2", "v0 > a1")), ("v1", "v2", "v0"), "ff", "fbf", 3)
    return out


def _row_extras() -> dict:
    """The row kernels ``gpuad.jit`` runs on a GPU for the bench's ten rows (the four
    workloads of ``bench/workloads``, jit(vmap(method)), float64): one kernel per row,
    NOTE [row programs] in gpuad/jit/rowplan.py. Needs the repository's ``bench``
    package on the path (a checkout); none otherwise."""
    try:
        import gpuad as ad
        from bench.workloads import WORKLOADS
        from gpuad.jit import row_programs
    except Exception:
        return {}
    out = {}
    for name in ("pointwise", "kinetics", "neohookean", "mlp_pinn"):
        w = WORKLOADS[name]
        for method in w.METHODS:
            T = {"jacfwd": ad.jacfwd, "jacrev": ad.jacrev, "hessian": ad.hessian}[method]
            spec = row_programs(ad.vmap(T(w.gpuad_fn(ad, "cpu"))),
                                ad.tensor(w.make_input(4, 0), device="cpu"))
            if spec is not None:
                out[f"rows_{name}_{method}"] = spec
    return out


def instances(include_registry: bool = True) -> list[tuple]:
    """Every kernel instance as ``(label, kind, spec)`` (spec is picklable)."""
    table = {name: (expr, kinds, True) for name, (expr, kinds) in POINTWISE.items()}
    if include_registry:
        table.update(_registry_extras())
    out = []
    for name, (expr, kinds, differentiable) in table.items():
        # Non-differentiable extras (comparisons, logic) never see a tangent batch.
        variants = ((2, "nd2"), (3, "nd3_tangent")) if differentiable else ((2, "nd2"),)
        # Kernels whose inputs are all bool do not depend on the float dtype.
        dtypes = ("bool",) if set(kinds) == {"b"} else DTYPES
        for dt in dtypes:
            for ndim, variant in variants:
                out.append((f"ew_{name}_{dt}_{variant}", "elementwise", (expr, kinds, ndim, dt)))
    for op in REDUCE_OPS:
        for dt in DTYPES:
            for shuffle in (True, False):
                mode = "shfl" if shuffle else "tree"
                out.append((f"reduce_{op}_{dt}_{mode}", "reduce", (op, dt, shuffle)))
    for op in REDUCE_OPS:
        for dt in DTYPES:
            out.append((f"reduce_columns_{op}_{dt}", "reduce_columns", (op, dt)))
    for k in LINALG_K:
        for dt in DTYPES:
            for fn in ("det", "inv", "solve"):
                out.append((f"{fn}_k{k}_{dt}", "linalg", (fn, k, dt)))
            if k <= _eigh_max_k():
                out.append((f"eigh_k{k}_{dt}", "linalg", ("eigh", k, dt)))
    if include_registry:
        for name, (stmts, outs, kinds, out_kinds, ndim) in _fused_extras().items():
            for dt in DTYPES:
                out.append((f"ew_{name}_{dt}", "program",
                            (stmts, outs, kinds, out_kinds, ndim, dt)))
    if include_registry:
        for name, spec in _row_extras().items():
            out.append((name, "rows", spec))
    for i, (name, _, _) in enumerate(_EXTRA):
        out.append((name, "extra", i))
    return out


def _eigh_max_k():
    from gpuad.kernels.small_linalg import EIGH_MAX_K
    return EIGH_MAX_K


def _build(kind, spec):
    """(python kernel function, numba argument types) for an instance."""
    from numba import from_dtype, types

    from gpuad.kernels import elementwise, reduction, small_linalg

    if kind == "elementwise":
        expr, in_kinds, ndim, dt = spec
        fdt = np.dtype("float64" if dt == "bool" else dt)
        in_dt = [np.dtype(bool) if c == "b" else fdt for c in in_kinds]
        from gpuad.backends.cudasim import _xp_eval
        out_dt = np.asarray(_xp_eval(expr, [np.ones(1, d) for d in in_dt], np)).dtype
        if out_dt.kind == "f":
            out_dt = fdt
        kinds = ("b",) * len(in_kinds)
        fn = elementwise.kernel_function(expr, kinds, ndim, fdt.name)
        arr = lambda d: types.Array(from_dtype(d), 1, "C")  # noqa: E731
        sig = [arr(out_dt), types.int64] + [arr(d) for d in in_dt]
        sig += [types.int64] * (ndim + ndim * len(in_kinds))
        return fn, tuple(sig)
    if kind == "program":  # a multi-output fused kernel
        stmts, outs, in_kinds, out_kinds, ndim, dt = spec
        fdt = np.dtype(dt)
        in_dt = [np.dtype(bool) if c == "b" else fdt for c in in_kinds]
        out_dt = [np.dtype(bool) if c == "b" else fdt for c in out_kinds]
        kinds = ("b",) * len(in_kinds)  # every input broadcast: the most general layout
        fn = elementwise.program_function(stmts, outs, kinds, ndim, fdt.name)
        arr = lambda d: types.Array(from_dtype(d), 1, "C")  # noqa: E731
        sig = [arr(d) for d in out_dt] + [types.int64] + [arr(d) for d in in_dt]
        sig += [types.int64] * (ndim + ndim * len(in_kinds))
        return fn, tuple(sig)
    if kind == "reduce":
        op, dt, shuffle = spec
        fn = reduction.kernel_function(op, dt, REDUCE_BLOCK, shuffle)
        a = types.Array(from_dtype(np.dtype(dt)), 1, "C")
        return fn, (a, a) + (types.int64,) * 4
    if kind == "reduce_columns":
        op, dt = spec
        fn = reduction.columns_kernel_function(op, dt)
        a = types.Array(from_dtype(np.dtype(dt)), 1, "C")
        return fn, (a, a) + (types.int64,) * 4
    if kind == "linalg":
        name, k, dt = spec
        fn = small_linalg.kernel_function(name, k, dt)
        a = types.Array(from_dtype(np.dtype(dt)), 1, "C")
        nargs = {"det": 2, "inv": 2, "solve": 3, "eigh": 2}[name]
        ints = {"det": 1, "inv": 1, "solve": 2, "eigh": 2}[name]
        return fn, (a,) * nargs + (types.int64,) * ints
    if kind == "rows":  # a whole-plan row kernel of gpuad.jit
        from gpuad.kernels import cache
        src, ins, args, outs = spec
        fn = cache.load_source("rows", src).rowplan
        arr = lambda d, nd, ro: types.Array(from_dtype(np.dtype(d)), nd, "C", readonly=ro)  # noqa: E731
        sig = [types.int64, types.int64] + [arr(d, 2, True) for d in ins] + [arr(d, 1, True) for d in args]
        sig += [arr(d, 2, False) for d in outs]
        return fn, tuple(sig)
    name, fn, sig = _EXTRA[spec]
    return fn, tuple(sig)


def _cc(arch: str) -> tuple:
    return (int(arch[3:-1]), int(arch[-1]))


def compile_ptx_multi(fn, sig, archs) -> list[str]:
    """PTX of kernel ``fn`` for each arch, typing and lowering it once.

    ``numba.cuda.compile_ptx`` re-runs the whole pipeline per compute capability; its
    code library can emit PTX for several (``get_asm_strs(cc=...)``), which halves the
    time of the PTX command. That entry point is internal to numba-cuda, so any failure
    falls back to the public ``compile_ptx`` per arch.
    """
    from numba import cuda
    ccs = sorted(_cc(a) for a in archs)
    try:
        from numba.cuda.compiler import _compile_pyfunc_with_fixup
        lib, _ = _compile_pyfunc_with_fixup(fn, sig, device=False, abi="numba", cc=ccs[0])
        out = []
        for a in archs:
            codes = lib.get_asm_strs(cc=_cc(a))
            if len(codes) != 1:
                raise RuntimeError("multiple PTX modules")
            out.append(codes[0])
        return out
    except Exception:
        return [cuda.compile_ptx(fn, sig, cc=_cc(a))[0] for a in archs]


def _compile_one(task):
    label, kind, spec, archs, outdir = task
    t0 = time.perf_counter()
    fn, sig = _build(kind, spec)
    paths = []
    for arch, ptx in zip(archs, compile_ptx_multi(fn, sig, archs)):
        path = os.path.join(outdir, f"{label}.{arch}.ptx")
        with open(path, "w") as f:
            f.write(ptx)
        paths.append((arch, path))
    return label, paths, time.perf_counter() - t0


def find_ptxas() -> str | None:
    p = shutil.which("ptxas")
    if p:
        return p
    import glob
    for cand in sorted(glob.glob("/usr/local/cuda*/bin/ptxas"), reverse=True):
        return cand
    return None


_RE_REGS = re.compile(r"Used (\d+) registers")
_RE_SPILL = re.compile(
    r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_RE_SMEM = re.compile(r"(\d+) bytes smem")


def ptxas_info(ptxas: str, path: str, arch: str) -> dict:
    """Registers, stack frame, spill stores/loads and static shared memory of a PTX file."""
    r = subprocess.run([ptxas, f"-arch={arch}", "-v", path, "-o", os.devnull],
                       capture_output=True, text=True)
    text = r.stdout + r.stderr
    if r.returncode != 0:
        raise RuntimeError(f"ptxas failed on {path}:\n{text}")
    regs = max((int(m) for m in _RE_REGS.findall(text)), default=0)
    spills = _RE_SPILL.findall(text)
    stack = max((int(s[0]) for s in spills), default=0)
    st = max((int(s[1]) for s in spills), default=0)
    ld = max((int(s[2]) for s in spills), default=0)
    smem = max((int(m) for m in _RE_SMEM.findall(text)), default=0)
    return {"registers": regs, "stack": stack, "spill_stores": st, "spill_loads": ld,
            "smem": smem}


def _ptxas_task(args):
    ptxas, label, arch, path = args
    return label, arch, ptxas_info(ptxas, path, arch)


def run(archs, outdir, report=False, jobs=None, only=None, stream=sys.stdout) -> dict:
    """Compile all instances for ``archs`` into ``outdir``; return a summary dict."""
    os.makedirs(outdir, exist_ok=True)
    for a in archs:
        if not re.fullmatch(r"sm_\d\d+", a):
            raise SystemExit(f"gpuad.kernels --ptx: bad --arch entry {a!r} (expected e.g. sm_80)")
    insts = instances()
    if only:
        insts = [i for i in insts if only in i[0]]
    if any(kind == "extra" for _, kind, _ in insts):
        jobs = 1  # registered functions live in this process only
    jobs = jobs or os.cpu_count() or 1
    tasks = [(label, kind, spec, tuple(archs), outdir) for label, kind, spec in insts]
    t0 = time.perf_counter()
    results = []
    if jobs == 1:
        results = [_compile_one(t) for t in tasks]
    else:
        with ProcessPoolExecutor(jobs) as ex:
            results = list(ex.map(_compile_one, tasks, chunksize=4))
    compile_s = time.perf_counter() - t0
    files = [(label, arch, path) for label, paths, _ in results for arch, path in paths]
    print(f"compiled {len(results)} kernels x {len(archs)} archs = {len(files)} PTX files "
          f"into {outdir} in {compile_s:.1f} s ({jobs} processes)", file=stream)
    summary = {"kernels": [r[0] for r in results], "files": [f[2] for f in files],
               "compile_s": compile_s, "report": None}
    if report:
        ptxas = find_ptxas()
        if ptxas is None:
            print("--report: ptxas is not on this machine (PATH or /usr/local/cuda*/bin); "
                  "no register/spill report", file=stream)
            return summary
        # ptxas spends most of its wall time outside the CPU here; threads suffice.
        t1 = time.perf_counter()
        with ThreadPoolExecutor(4 * jobs) as ex:
            rows = list(ex.map(_ptxas_task, [(ptxas, l, a, p) for l, a, p in files]))
        summary["ptxas_s"] = time.perf_counter() - t1
        print(f"ran ptxas -v on {len(rows)} files in {summary['ptxas_s']:.1f} s", file=stream)
        summary["report"] = rows
        _print_table(rows, ptxas, stream)
    return summary


def _print_table(rows, ptxas, stream):
    w = max(len(r[0]) for r in rows)
    head = (f"{'kernel':<{w}}  {'arch':<6} {'regs':>4} {'stack':>5} {'spill_st':>8} "
            f"{'spill_ld':>8} {'smem':>5}")
    print(f"ptxas: {ptxas}", file=stream)
    print(head, file=stream)
    print("-" * len(head), file=stream)
    for label, arch, i in rows:
        print(f"{label:<{w}}  {arch:<6} {i['registers']:>4} {i['stack']:>5} "
              f"{i['spill_stores']:>8} {i['spill_loads']:>8} {i['smem']:>5}", file=stream)
    regs = max(rows, key=lambda r: r[2]["registers"])
    spills = [r for r in rows if r[2]["spill_stores"] or r[2]["spill_loads"]]
    print(f"summary: {len(rows)} PTX files; max registers {regs[2]['registers']} "
          f"({regs[0]}, {regs[1]}); kernels with spills: {len(spills)}"
          + (": " + ", ".join(f"{r[0]}@{r[1]}" for r in spills) if spills else ""),
          file=stream)
