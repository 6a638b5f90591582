"""Rendering a row program (``rowplan.RowProgram``) as kernel source, for two targets
from one body: ``"cuda"`` (a Numba-CUDA kernel, a thread per row in a grid-stride
loop, the row's arrays in ``cuda.local.array``) and ``"cpu"`` (a Numba function over a
range of rows, the row's arrays allocated once per call). Only the header and the
row loop differ; the nests are the same text.

How a nest is written (NOTE [row programs] in ``rowplan.py``):

* A map that is affine in the loop indices (every view NumPy makes with strides) is
  written as ``base + i0 * s0 + ...``; any other (a gather's index table) reads a
  constant table at the loop position.
* Loops of one trip are not written; an operand that is a single constant is a
  literal, so the compiler folds it (a basis vector's 0s and 1s).
* A reduction accumulates in a scalar (a register), never in its target array.
* Constants up to ``rowplan.EMBED_MAX`` elements and the tables are module globals,
  which Numba freezes into the compiled code (constant memory on a GPU).
* Local arrays are reused after their last read (a greedy first-fit by dtype), so a
  row's memory is the plan's peak, not its total.
"""
from __future__ import annotations

import numpy as np

from gpuad.kernels.elementwise import typed_literals

from ..ops.pointwise import div_p, mul_p
from .fold import substitute
from .rowplan import literal

# NOTE [rolled loops]: NVVM unrolls every loop whose trip count it knows, and a nest of
# thousands of multiply-adds (kinetics' 20 x 20 x 60 contraction) unrolled needs more
# than 255 registers and spills. The loops of a nest with more statements to run
# (trips times statements per trip) than this are
# bounded by ``n * u`` instead, where ``u`` is a kernel argument that is always 1: the
# compiler keeps them rolled, and the nest's arrays stay in local memory.
UNROLL_MAX = 256

# as codegen_cpu's kernels: NumPy's division semantics, FMA contraction, no GIL
_CPU_FLAGS = "cache=True, nogil=True, error_model='numpy', fastmath={'contract'}"

_NB = {"float64": "float64", "float32": "float32", "int64": "int64", "int32": "int32",
       "bool": "boolean"}


def _affine(m):
    """``(base, strides)`` when ``m`` (an int array) is base + sum(i_k * s_k), else None."""
    if m.size == 0:
        return 0, [0] * m.ndim
    base = int(m.flat[0])
    strides = []
    expect = np.int64(base)
    for k, n in enumerate(m.shape):
        if n == 1:
            strides.append(0)
            continue
        idx = [0] * m.ndim
        idx[k] = 1
        s = int(m[tuple(idx)]) - base
        strides.append(s)
        expect = expect + (np.arange(n, dtype=np.int64) * s).reshape(
            [n if j == k else 1 for j in range(m.ndim)])
    if not np.array_equal(np.broadcast_to(expect, m.shape), m):
        return None
    return base, strides


class _Writer:
    def __init__(self, prog, target):
        self.prog = prog
        self.target = target
        self.globals = []  # module-level constant lines
        self.tables = {}
        self.buffer_of = {}
        self.const_name = {}

    # -- accesses --------------------------------------------------------------------
    def offset(self, m, loop):
        aff = _affine(m)
        if aff is not None:
            base, strides = aff
            terms = [f"i{k}" if s == 1 else f"i{k} * {s}"
                     for k, s in enumerate(strides) if s != 0 and loop[k] != 1]
            if base or not terms:
                terms.insert(0, str(base))
            return " + ".join(terms)
        flat = np.ascontiguousarray(m).reshape(-1)
        key = flat.tobytes()
        name = self.tables.get(key)
        if name is None:
            name = self.tables[key] = f"T{len(self.tables)}"
            dt = np.int32 if flat.max(initial=0) < 2 ** 31 else np.int64
            self.globals.append(_array_line(name, flat.astype(dt)))
        lin = None
        for k, n in enumerate(loop):
            if n == 1:
                continue
            lin = f"i{k}" if lin is None else f"({lin}) * {n} + i{k}"
        return f"{name}[{lin or 0}]"

    def access(self, store, m, loop):
        if store.kind == "const":
            aff = _affine(m)
            if aff is not None and not any(s for s, n in zip(aff[1], loop) if n != 1):
                text = literal(store.values[aff[0]].item(), store.dtype)  # one value: folded
                return f"_ft({text})" if store.dtype.kind == "f" else text
            return f"{self.const_name[id(store)]}[{self.offset(m, loop)}]"
        off = self.offset(m, loop)
        if store.kind == "in":
            return f"X{store.index}[r, {off}]"
        if store.kind == "out":
            return f"O{store.index}[r, {off}]"
        if store.kind == "arg":
            return f"A{store.index}[{off}]"
        return f"{self.buffer_of[id(store)]}[{off}]"

    # -- locals ------------------------------------------------------------------------
    def allocate(self, blocks, scalar):
        """Physical local buffers for the local stores not held in scalars, reused after
        a store's last use: ``[(name, size, dtype)]``."""
        first, last = {}, {}
        for i, block in enumerate(blocks):
            for nest in block:
                for st, _ in [nest.target] + list(nest.operands):
                    if st.kind == "local" and id(st) not in scalar:
                        first.setdefault(id(st), (i, st))
                        last[id(st)] = i
        buffers = []  # [name, size, dtype]
        free = []
        by_start, by_end = {}, {}
        for sid, (i, st) in first.items():
            by_start.setdefault(i, []).append(st)
        for sid, i in last.items():
            by_end.setdefault(i, []).append(sid)
        for i in range(len(blocks)):
            for st in by_start.get(i, ()):
                fits = [b for b in free if b[2] == st.dtype]
                if fits:
                    big = [b for b in fits if b[1] >= st.size]
                    b = min(big, key=lambda b: b[1]) if big else max(fits, key=lambda b: b[1])
                    free.remove(b)
                    b[1] = max(b[1], st.size)
                else:
                    b = [f"L{len(buffers)}", st.size, st.dtype]
                    buffers.append(b)
                self.buffer_of[id(st)] = b[0]
            for sid in by_end.get(i, ()):
                free.append(next(b for b in buffers if b[0] == self.buffer_of[sid]))
        return buffers

    # -- nests -------------------------------------------------------------------------
    def loops(self, loop, start, stop, lines, depth, statements=1):
        rolled = int(np.prod(loop, dtype=np.int64)) * statements > UNROLL_MAX
        for k in range(start, stop):
            if loop[k] != 1:
                # NOTE [rolled loops]: a trip count the compiler cannot see stays a loop
                bound = f"{loop[k]} * u" if rolled else str(loop[k])
                lines.append(f"{'    ' * depth}for i{k} in range({bound}):")
                depth += 1
        return depth

    def nest(self, nest, ind):
        loop = nest.outer + nest.inner
        lines = []
        n_outer = len(nest.outer)
        depth = self.loops(loop, 0, n_outer, lines, ind)
        tmap = nest.target[1].reshape(nest.outer)
        tpad = tmap.reshape(tmap.shape + (1,) * len(nest.inner))
        target = self.access(nest.target[0], np.broadcast_to(tpad, loop), loop)
        args = [self.access(st, m, loop) for st, m in nest.operands]
        value = self.value(nest, args)
        pad = "    "
        if nest.pairwise and nest.inner[0] >= 8:
            k = f"i{n_outer}"
            lines += _pairwise(value, k, 0, nest.inner[0], "acc", depth, [0])
            lines.append(f"{pad * depth}{target} = acc")
        elif nest.combine and not nest.update:
            acc_depth = depth
            lines.append(f"{pad * depth}acc = {typed_literals(nest.init)}")
            depth = self.loops(loop, n_outer, len(loop), lines, depth)
            lines += self.combine(nest.combine, "acc", value, depth)
            lines.append(f"{pad * acc_depth}{target} = acc")
        elif nest.update:
            lines += self.combine(nest.combine, target, value, depth)
        else:
            lines.append(f"{pad * depth}{target} = {value}")
        return lines

    def block(self, block, ind, scalar, stored):
        """Plain elementwise nests of one fused group over one shape, as one loop nest:
        a value read only inside the block is a scalar, never written to memory."""
        if len(block) == 1 and id(block[0].target[0]) not in scalar:
            return self.nest(block[0], ind)
        loop = block[0].outer
        lines = []
        depth = self.loops(loop, 0, len(loop), lines, ind, len(block))
        pad = "    " * depth
        names = {}
        for nest in block:
            args = []
            for st, m in nest.operands:
                args.append(names.get(id(st)) or self.access(st, np.broadcast_to(m, loop), loop))
            value = self.value(nest, args)
            st = nest.target[0]
            name = names[id(st)] = f"s{len(names)}"
            lines.append(f"{pad}{name} = numba.{_NB[nest.dtype.name]}({value})")
            if id(st) in stored:
                lines.append(f"{pad}{self.access(st, nest.target[1].reshape(loop), loop)} = {name}")
        return lines

    def value(self, nest, args):
        """The nest's expression of ``args``. NOTE [jit folds constant zeros] in
        ``fold.py``: a product with a constant zero (a quotient with a zero numerator) is
        zero, as in the cpu's unrolled kernels, even where the other factor is inf."""
        value = substitute(typed_literals(nest.expr), args)
        if (nest.prim is not mul_p and nest.prim is not div_p) or nest.dtype.kind != "f":
            return value
        zero = "_ft(0.0)"
        consts = [i for i, (st, _) in enumerate(nest.operands[:2])
                  if st.kind == "const" and (nest.prim is mul_p or i == 0)]
        for i in consts:
            if args[i] in ("_ft(0.0)", "_ft(-0.0)"):
                return zero
        for i in consts:
            if not args[i].startswith("_ft("):  # read from a table of constants
                value = f"({zero} if {args[i]} == 0 else {value})"
        return value

    @staticmethod
    def combine(op, acc, value, depth):
        pad = "    " * depth
        if op in ("+", "*"):
            return [f"{pad}{acc} = {acc} {op} ({value})"]
        cmp = ">" if op == "max" else "<"  # NaN propagates, as in NumPy's max and min
        return [f"{pad}v = {value}", f"{pad}{acc} = v if (v != v or v {cmp} {acc}) else {acc}"]


def _plain(nest):
    # elementwise, each loop position writing its own element
    m = nest.target[1]
    return not nest.combine and not nest.update and not nest.inner and \
        np.unique(m).size == m.size


def _blocks(nests):
    """Runs of adjacent plain nests of one fused group and one shape, where every read
    of a value made in the run is at the element being made (so one loop computes
    them all)."""
    blocks = []
    for nest in nests:
        b = blocks[-1] if blocks else None
        if (b is not None and nest.group is not None and nest.group == b[0].group
                and _plain(nest) and _plain(b[0]) and nest.outer == b[0].outer
                and _reads_in_place(nest, b)):
            b.append(nest)
        else:
            blocks.append([nest])
    return blocks


def _reads_in_place(nest, block):
    made = {id(n.target[0]): n.target[1] for n in block}
    if id(nest.target[0]) in made or any(id(nest.target[0]) == id(st) for n in block
                                         for st, _ in n.operands):
        return False
    for st, m in nest.operands:
        t = made.get(id(st))
        if t is not None and not np.array_equal(np.broadcast_to(m, nest.outer), t):
            return False
    return True


def _scalars(blocks):
    """(stores held only in a block's scalars, stores a block must also write)."""
    reads = {}  # store id -> indices of the blocks reading it
    for i, block in enumerate(blocks):
        for nest in block:
            for st, _ in nest.operands:
                reads.setdefault(id(st), set()).add(i)
    scalar, stored = set(), set()
    for i, block in enumerate(blocks):
        if len(block) == 1:
            continue
        for nest in block:
            st = nest.target[0]
            if st.kind == "out" or reads.get(id(st), set()) - {i}:
                stored.add(id(st))
            else:
                scalar.add(id(st))
    return scalar, stored


# NOTE [pairwise sums]: NumPy adds a contiguous run of n values pairwise: fewer than 8
# in order from 0.0; up to 128 in 8 interleaved partial sums, combined as a tree, then
# the remainder in order; more, as two halves (the first a multiple of 8). Written out
# here with the run's length known, a row program's sum is eager mode's to the bit.
_PW_BLOCK = 128


def _pairwise(value, k, lo, hi, name, depth, counter):
    """Lines setting ``name`` to the sum of ``value`` over ``k`` in lo..hi, in NumPy's
    pairwise order."""
    pad = "    " * depth
    n = hi - lo
    if n < 8:
        lines = [f"{pad}{name} = _ft(0.0)"]
        lines += [f"{pad}for {k} in range({lo}, {hi}):", f"{pad}    {name} = {name} + ({value})"]
        return lines
    if n <= _PW_BLOCK:
        counter[0] += 1
        r = [f"p{counter[0]}_{j}" for j in range(8)]
        lines = []
        for j in range(8):
            lines += [f"{pad}{k} = {lo + j}", f"{pad}{r[j]} = {value}"]
        end = lo + n - n % 8
        if end > lo + 8:
            b = f"b{counter[0]}"
            lines.append(f"{pad}for {b} in range({lo + 8}, {end}, 8):")
            for j in range(8):
                lines += [f"{pad}    {k} = {b} + {j}", f"{pad}    {r[j]} = {r[j]} + ({value})"]
        lines.append(f"{pad}{name} = (({r[0]} + {r[1]}) + ({r[2]} + {r[3]})) + "
                     f"(({r[4]} + {r[5]}) + ({r[6]} + {r[7]}))")
        if end < hi:
            lines += [f"{pad}for {k} in range({end}, {hi}):", f"{pad}    {name} = {name} + ({value})"]
        return lines
    half = n // 2
    half -= half % 8
    counter[0] += 1
    a, b = f"h{counter[0]}a", f"h{counter[0]}b"
    return (_pairwise(value, k, lo, lo + half, a, depth, counter) +
            _pairwise(value, k, lo + half, hi, b, depth, counter) + [f"{pad}{name} = {a} + {b}"])


def _array_line(name, a):
    return (f"{name} = np.frombuffer(bytes.fromhex('{a.tobytes().hex()}'), "
            f"dtype='{a.dtype.str}')")


def float_type(prog):
    """The type of float literals: float32 only when every float in the plan is."""
    kinds = {s.dtype for s in prog.inputs + prog.args + prog.consts + prog.outs + prog.locals
             if s.dtype.kind == "f"}
    return "float32" if kinds == {np.dtype(np.float32)} else "float64"


def source(prog, target):
    """Module text defining ``rowplan``: on ``"cuda"`` a kernel ``rowplan(n, u, X..,
    A.., O..)`` (n rows; u: 1, NOTE [rolled loops]; X: row inputs as (n, row size); A:
    flat row-free arrays; O: results as (n, row size)); on ``"cpu"`` a function
    ``rowplan(lo, hi, u, X.., A.., O..)`` over rows lo..hi."""
    w = _Writer(prog, target)
    seen = {}
    for c in prog.consts:  # equal constants (a basis's rows, repeated) written once
        key = (c.values.dtype.str, c.values.tobytes())
        if key in seen:
            w.const_name[id(c)] = seen[key]
            continue
        seen[key] = w.const_name[id(c)] = f"K{c.index}"
        w.globals.append(_array_line(f"K{c.index}", c.values))
    blocks = _blocks(prog.nests)
    scalar, stored = _scalars(blocks)
    buffers = w.allocate(blocks, scalar)
    ind = 2
    body = []
    for block in blocks:
        body += w.block(block, ind, scalar, stored)
    params = ([f"X{s.index}" for s in prog.inputs] + [f"A{s.index}" for s in prog.args] +
              [f"O{s.index}" for s in prog.outs])
    head = ["# Generated by gpuad.jit.codegen_rows: a whole plan, one program per row.",
            "# Do not edit: the file name is a hash of this text.",
            "import math", "", "import numba", "import numpy as np"]
    if target == "cuda":
        head.append("from numba import cuda")
    head += ["", f"_ft = numba.{float_type(prog)}", ""] + w.globals + ["", ""]
    if target == "cuda":
        fn = [f"def rowplan(n, u, {', '.join(params)}):"]
        fn += [f"    {b} = cuda.local.array({size}, numba.{_NB[dt.name]})" for b, size, dt in buffers]
        fn += ["    r = cuda.grid(1)", "    step = cuda.gridsize(1)", "    while r < n:"]
        fn += body or ["        pass"]
        fn += ["        r += step"]
    else:
        head += ["from gpuad.kernels.cache import njit", "", ""]
        fn = [f"@njit({_CPU_FLAGS})", f"def rowplan(lo, hi, u, {', '.join(params)}):"]
        fn += [f"    {b} = np.empty({size}, dtype=np.{dt.name})" for b, size, dt in buffers]
        fn += ["    for r in range(lo, hi):"]
        fn += body or ["        pass"]
        fn += ["    return 0"]  # as codegen_cpu's kernels (the executor sums row ranges')
    return "\n".join(head + fn) + "\n", buffers
