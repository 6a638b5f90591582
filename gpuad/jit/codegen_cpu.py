"""CPU code generation for fused pointwise groups: one Numba loop nest per group,
written to a module file in the kernel cache folder (``gpuad.kernels.cache``) so Numba
caches the machine code on disk and a second process loads it in milliseconds.

How the loop nest is shaped, and why:

* **Collapsed axes.** Size-1 axes of the group are dropped and neighbouring axes are
  merged when every input is either full or broadcast on both, as TensorIterator does:
  a (B, 9, 1, 3, 3) group whose inputs broadcast as (B, 9, 1, 1, 1) and (1, 1, 1, 3, 3)
  runs as a (B, 9, 9) nest, not five loops with trip counts of 1 and 3.
* **Loop-invariant hoisting.** Each input is loaded, and each statement computed, in the
  outermost loop where all its operands are defined: a value per cell of the batch is
  computed once per cell, not once per Jacobian entry. LLVM cannot do this itself here,
  because it cannot prove the outputs do not alias the inputs.
* **Literal inner sizes.** Every axis but the first is written into the source, so LLVM
  sees constant trip counts (unrolls, vectorizes); the first axis, the batch in a
  ``vmap``, stays a run-time value, and one kernel serves every batch size.
* **Serial body, threads outside.** The body is a plain loop over a range of the first
  axis, compiled ``nogil``; a large group runs as row ranges on a thread pool
  (``gpuad.jit``). A ``prange`` body compiled by Numba's parfor pass optimized worse
  (measured 2x slower on one thread) and took seconds to compile.
"""
from __future__ import annotations

import hashlib
import itertools

import numpy as np

from . import vmath
from .fold import Lit, fold
from .fold import substitute


_NB_TYPES = {"float64": "float64", "float32": "float32", "int64": "int64", "int32": "int32",
             "bool": "boolean", "int8": "int8", "uint8": "uint8", "int16": "int16"}


def _arr_type(dtype, ndim, readonly=False, strided=False):
    # C-contiguous arrays: unit-stride inner loops. Inputs are typed read-only so
    # read-only (e.g. broadcast-source) arrays are accepted too. A strided input is
    # a component view such as F[:, 0, 1], read in place (NOTE [strided views]).
    t = _NB_TYPES[np.dtype(dtype).name]
    layout = "A" if strided else "C"
    return f"numba.types.Array(numba.{t}, {ndim}, '{layout}', readonly={readonly})"


def _prod(xs):
    n = 1
    for x in xs:
        n *= x
    return n


def collapse(shape, in_shapes):
    """The loop shape of a group of ``shape`` and each input's shape inside it (1 on
    broadcast axes): size-1 axes dropped, neighbouring axes merged when every input
    broadcasts both or neither."""
    nd = len(shape)
    padded = [(1,) * (nd - len(s)) + tuple(s) for s in in_shapes]
    axes = [k for k in range(nd) if shape[k] != 1]
    if not axes:
        return (1,), [(1,)] * len(in_shapes)
    runs = [[axes[0]]]
    for k in axes[1:]:
        j = runs[-1][-1]
        if all((p[j] == 1) == (p[k] == 1) for p in padded):
            runs[-1].append(k)
        else:
            runs.append([k])
    loop = tuple(_prod(shape[k] for k in run) for run in runs)
    ins = [tuple(_prod(p[k] for k in run) for run in runs) for p in padded]
    return loop, ins


with open(vmath.__file__, "rb") as _f:
    _VMATH_TAG = hashlib.sha1(_f.read()).hexdigest()[:12]

# error_model='numpy': division by zero gives inf / nan as in NumPy, and no exception
# branch stops LLVM from vectorizing. 'contract' lets LLVM fuse a * b + c into one
# FMA (one rounding instead of two): the inlined polynomials (vmath) run 1.4x faster,
# and results can differ from eager mode's in the last bit.
_FLAGS = "cache=True, nogil=True, error_model='numpy', fastmath={'contract'}"

# NOTE [guarded sin and cos]: the kernel's sin and cos (vmath) are exact for
# |x| <= vmath.SIN_COS_MAX. The kernel returns how many arguments were beyond that;
# when any were, the run repeats with ``<name>_libm``, the same body with libm's
# sin and cos (compiled on first use), so results never depend on the range.
_GUARD = "n_beyond"

# Unrolling limits: positions of the unrolled trailing loops, and positions times the
# statements inside them (an estimate before folding).
_UNROLL_POSITIONS = 1024
_UNROLL_STATEMENTS = 1000
# ... and the generated body, after folding: 600 lines compile in 2-4 s, 1500 in 10-20
_MAX_LINES = 600


class KernelTooLarge(Exception):
    """A group with a fused sum would unroll into more than ``_MAX_LINES`` lines."""


def _foldable(c):
    # Basis vectors and masks: mostly 0, 1 and booleans. Unrolling over a dense
    # constant (a bias vector) folds nothing and stops LLVM from vectorizing the loop.
    if c.dtype == np.bool_:
        return True
    return np.count_nonzero((c == 0) | (c == 1)) * 2 >= c.size


def _unroll_start(loop, inputs, stmts, axes, reduced):
    """First unrolled loop axis (len(loop) for none): the outermost axis from which
    every trailing loop can be unrolled within the limits, if a constant of mostly 0s
    and 1s varies over the unrolled loops (there is little to fold otherwise)."""
    nd = len(loop)
    if reduced:  # NOTE [reductions in kernels]: every reduced axis is unrolled
        return min(min(r) for r in reduced.values() if r) if any(reduced.values()) else nd
    foldable = [c is not None and _foldable(c) for _, _, c in inputs]
    # the first axis too when the whole nest is small and a basis runs along it (a
    # Jacobian outside vmap); never a batch axis, so one kernel serves every batch size
    first = 0 if (_prod(loop) <= _UNROLL_POSITIONS and
                  any(f and 0 in axes[f"a{i}"] for i, f in enumerate(foldable))) else 1
    for u in range(first, nd):
        # a constant folds only where all the axes it varies over are unrolled
        if not any(f and axes[f"a{i}"] and min(axes[f"a{i}"]) >= u
                   for i, f in enumerate(foldable)):
            continue
        positions = _prod(loop[u:])
        inner = sum(1 for st in stmts if any(k >= u for k in axes[st[0]]))
        if positions <= _UNROLL_POSITIONS and positions * inner <= _UNROLL_STATEMENTS:
            return u
    return nd


def source(stmts, inputs, outs, loop, name, reduced=None, strided=()):
    """Module text for one group.

    ``stmts``: ``(target, primitive, expression, operands, dtype)`` in dependency order;
    operands are ``a<i>`` (input i), earlier targets or ``fold.Lit`` values.
    ``inputs``: ``(shape in the loop, dtype, values or None)``, values given for small
    constants, which are folded into unrolled code. ``outs``: ``(target, dtype, shape
    in the loop)``. ``reduced``: {target of a sum: the loop axes it sums over}.
    ``strided``: indices of inputs passed as strided views (any layout).
    Defines ``name(lo, hi, p0.., q0..)`` (rows lo..hi of the first loop axis, without
    the GIL, so threads can run disjoint row ranges) and, when the body uses sin or
    cos, ``name_libm`` (NOTE [guarded sin and cos]); each returns the count of sin /
    cos arguments beyond ``vmath.SIN_COS_MAX``.

    NOTE [reductions in kernels]: a sum over trailing axes joins the group that
    produces its operand (``fusion.partition``). Its axes are unrolled, so the sum is
    an expression over the unrolled values, after folding: the sum of a basis vector
    times a value is that value. Statements are emitted one at a time over every
    position, so a sum's operand exists at all positions when the sum is reached, and
    its consumers in the group can read it at any position.
    """
    reduced = reduced or {}
    nd = len(loop)
    axes, dtype = {}, {}
    for i, (s, dt, _) in enumerate(inputs):
        axes[f"a{i}"] = frozenset(k for k in range(nd) if s[k] != 1)
        dtype[f"a{i}"] = np.dtype(dt)
    for target, _, _, ops, dt in stmts:
        axes[target] = frozenset().union(*[axes[o] for o in ops if not isinstance(o, Lit)])
        axes[target] -= reduced.get(target, frozenset())
        dtype[target] = np.dtype(dt)
    def build(u):
        body = [[] for _ in range(nd + 1)]   # per loop depth: (text, target, deps)
        env = {}

        def level(nm):
            return min(max(axes[nm], default=-1) + 1, u)

        def key(nm, pos):
            return tuple(pos[k - u] for k in sorted(axes[nm]) if k >= u)

        def local(nm, k):
            return nm + "".join(f"_{j}" for j in k)

        def value(op, pos):
            if isinstance(op, Lit):
                return op
            k = key(op, pos)
            v = env.get((op, k))
            if v is None:  # an input, loaded (or read as a literal) on first use
                i = int(op[1:])
                _, dt, const = inputs[i]
                idx = [f"i{a}" if a < u else str(pos[a - u]) for a in range(nd)]
                idx = [ix if a in axes[op] else "0" for a, ix in enumerate(idx)]
                if const is not None and all(a >= u for a in axes[op]):
                    v = Lit(const[tuple(int(ix) for ix in idx)], dt)
                else:
                    v = local(op, k)
                    body[level(op)].append((f"{v} = p{i}[{', '.join(idx)}]", v, ()))
                env[(op, k)] = v
            return v

        positions = list(itertools.product(*[range(n) for n in loop[u:]]))
        for target, prim, expr, ops, dt in stmts:
            for pos in positions:
                k = key(target, pos)
                if (target, k) in env:
                    continue
                if target in reduced:
                    red = sorted(reduced[target])
                    terms = []
                    for sub in itertools.product(*[range(loop[a]) for a in red]):
                        p2 = list(pos)
                        for a, j in zip(red, sub):
                            p2[a - u] = j
                        terms.append(value(ops[0], p2))
                    v = _sum(terms, dt)
                    if isinstance(v, str) and v.startswith(" "):  # an expression to emit
                        text, v = v, local(target, k)
                        deps = tuple(t for t in terms if not isinstance(t, Lit))
                        body[level(target)].append((f"{v} ={text}", v, deps))
                    env[(target, k)] = v
                    continue
                args = [value(o, pos) for o in ops]
                v = fold(prim, expr, args, [a.dtype if isinstance(a, Lit) else dtype[o]
                                            for a, o in zip(args, ops)], dt)
                if v is None:
                    v = local(target, k)
                    names = [a.src if isinstance(a, Lit) else a for a in args]
                    deps = tuple(a for a in args if not isinstance(a, Lit))
                    text = substitute(expr, names)
                    for libm, inline in vmath.SUBSTITUTIONS.items():
                        text = text.replace(libm, inline)
                    if prim in vmath.GUARDED and deps:
                        # NOTE [guarded sin and cos]: count arguments beyond the exact range
                        libm, inline = vmath.GUARDED[prim]
                        text = text.replace(libm, inline)
                        body[level(target)].append(
                            (f"{_GUARD} += abs({deps[0]}) > {vmath.SIN_COS_MAX!r}", None, deps))
                    body[level(target)].append((f"{v} = {text}", v, deps))
                env[(target, k)] = v
        for j, (o, dt, oshape) in enumerate(outs):
            stored = set()
            for pos in positions:
                idx = ", ".join([f"i{a}" if oshape[a] != 1 else "0" for a in range(u)] +
                                [str(pos[a - u]) if oshape[a] != 1 else "0" for a in range(u, nd)])
                if idx in stored:
                    continue
                stored.add(idx)
                v = value(o, pos)
                if isinstance(v, Lit):
                    body[u].append((f"q{j}[{idx}] = {v.src}", None, ()))
                else:
                    body[u].append((f"q{j}[{idx}] = {v}", None, (v,)))

        # dead statements (folded away downstream), in reverse textual order
        live = set()
        for lv in reversed(range(nd + 1)):
            kept = []
            for text, target, deps in reversed(body[lv]):
                if target is None or target in live:
                    kept.append(text)
                    live.update(deps)
            body[lv] = kept[::-1]
        return body

    u = _unroll_start(loop, inputs, stmts, axes, reduced)
    body = build(u)
    # Numba's compile time grows faster than linearly with a straight-line body:
    # unroll less until the kernel fits (a fused sum needs its axes unrolled)
    while sum(map(len, body)) > _MAX_LINES:
        if reduced:
            raise KernelTooLarge(name)
        if u >= nd:
            break
        u += 1
        body = build(u)

    n_in = len(inputs)
    params = [f"p{i}" for i in range(n_in)] + [f"q{j}" for j in range(len(outs))]
    # NOTE [unsigned row range]: ``lo`` and ``hi`` are unsigned. A signed loop index
    # that may be negative keeps Numba's negative-index wraparound in every access, and
    # the loop then ran 3-4x slower than NumPy even in L1 (1.5 ns against 0.5 ns per
    # multiply); with an index that cannot be negative LLVM vectorizes it cleanly.
    sig = ["numba.uintp", "numba.uintp"] + [_arr_type(dt, nd, True, i in strided)
                                            for i, (_, dt, _) in enumerate(inputs)] + \
          [_arr_type(dt, nd) for _, dt, _ in outs]
    ind = "    "

    def function(fname, libm):
        out = [f"def {fname}(lo, hi, {', '.join(params)}):", f"{ind}{_GUARD} = 0"]
        for k in range(u + 1):
            if k:
                rng = "range(lo, hi)" if k == 1 else f"range({loop[k - 1]})"
                out.append(f"{ind * k}for i{k - 1} in {rng}:")
            for ln in body[k]:
                if libm:
                    if ln.startswith(_GUARD):
                        continue
                    for lib, inline in vmath.GUARDED.values():
                        ln = ln.replace(inline, lib)
                out.append(ind * (k + 1) + ln)
        out.append(f"{ind}return {_GUARD}")
        return out

    guarded = any(ln.startswith(_GUARD) for b in body for ln in b)
    lines = [
        "# Generated by gpuad.jit: a fused pointwise group. The name is a hash of this text.",
        "import math", "import numba", vmath.IMPORT,
        # Numba's njit whose disk cache survives damage (NOTE [damaged cache], kernels/cache.py)
        "from gpuad.kernels.cache import njit",
        f"# vmath {_VMATH_TAG}",  # Numba's cache does not see a change in vmath: the name does
        "",
        f"@njit(numba.intp({', '.join(sig)}), {_FLAGS})",
    ]
    lines += function(name, False)
    if guarded:
        lines += ["", "", f"@njit({_FLAGS})"]
        lines += function(name + "_libm", True)
    return "\n".join(lines) + "\n"


def _sum(terms, dtype):
    """A sum of unrolled values: a ``Lit``, the name of its only term, or the text
    of an expression (starting with a space)."""
    names = [t for t in terms if not isinstance(t, Lit)]
    const = sum(t.v for t in terms if isinstance(t, Lit))
    if not names:
        return Lit(const, dtype)
    if len(names) == 1 and const == 0:
        return names[0]
    text = " + ".join(names)
    if const != 0:
        text += " + " + Lit(const, dtype).src
    return " " + text


def load(src):
    """Compile (or load from the disk cache) the module ``src``; returns the module."""
    from gpuad.kernels.cache import load_source
    return load_source("jitcpu", src)
