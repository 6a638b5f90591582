"""Fusion: maximal groups of same-shape pointwise equations become one kernel.

An equation joins the group of one of its producers when it has the group's shape
and joining cannot create a cycle (none of its inputs depends on the group through
an equation outside it). A group runs at the position of its last member; its
outputs are the values used outside it.
"""
from __future__ import annotations

import numpy as np

from ..ops.structural import broadcast_to_p, sum_p
from .fold import Lit, substitute
from .graph import host_value

_FUSABLE_DTYPES = {np.dtype(t) for t in ("float32", "float64", "int32", "int64", "bool")}



class Group:
    __slots__ = ("id", "shape", "eqns", "inputs", "outputs")

    def __init__(self, id, shape):
        self.id = id
        self.shape = shape
        self.eqns = []
        self.inputs = []   # external Vars, in first-use order
        self.outputs = []  # Vars used outside the group

    def __repr__(self):
        return f"Group({self.id}, {self.shape}, {[e.prim.name for e in self.eqns]})"


def expr_of(eqn):
    """The kernel expression of a pointwise equation. ``broadcast_to`` is the identity
    in a kernel, whose inputs are read with broadcasting."""
    return eqn.prim.expr if eqn.prim.expr is not None else \
        ("a0" if eqn.prim is broadcast_to_p else None)


def fusable(eqn):
    return (expr_of(eqn) is not None and eqn.out.dtype in _FUSABLE_DTYPES
            and all(v.dtype in _FUSABLE_DTYPES for v in eqn.inputs))


# a reduction joins its producer's group only if the kernel can unroll everything
# after the first axis (codegen_cpu's limit on unrolled positions)
_REDUCE_CELL_MAX = 1024
_REDUCE_BODY_MAX = 3000  # cell entries x equations already in the group


def _summed_axes(e, nd):
    """The axes a ``reduce_sum`` of a rank-``nd`` value sums over, non-negative."""
    axes = e.params["axes"]
    return set(range(nd)) if axes is None else {a % nd for a in axes}


def _joins_as_reduction(e, producer):
    """A ``reduce_sum`` of a group's value over trailing axes: the cpu kernel sums the
    unrolled values (NOTE [reductions in kernels] in codegen_cpu). Without keepdims its
    value leaves the group as an output only: inside it, NumPy's right-aligned
    broadcasting would read it along the wrong axes."""
    if e.prim is not sum_p or len(e.inputs) != 1:
        return None
    v = e.inputs[0]
    g = producer.get(v.id)
    nd = len(v.shape)
    if (not isinstance(g, Group) or g.shape != v.shape or nd < 2
            or e.out.dtype != v.dtype or v.dtype.kind != "f"):
        return None
    axes = _summed_axes(e, nd)
    cell = int(np.prod(v.shape[1:]))
    # the kernel unrolls the cell: keep its body within what compiles in a second or two
    if 0 in axes or cell > _REDUCE_CELL_MAX or cell * len(g.eqns) > _REDUCE_BODY_MAX:
        return None
    return g


def partition(graph, reductions=False, exclude=()):
    """Returns the execution steps: equations and Groups, in a valid order.
    ``reductions``: sums over trailing axes may join their producer's group (cpu),
    except the sums whose output var ids are in ``exclude``."""
    producer = {}        # var id -> step (eqn or Group) producing it
    out_only = {}        # var id -> the group it may leave but not be read in
    preds = {}           # id(step) -> set of steps it reads from
    groups, by_shape, steps = [], {}, []

    def reaches(start, target):
        # does ``start`` depend on ``target``? (DFS over step predecessors)
        stack, seen = [start], set()
        while stack:
            s = stack.pop()
            if s is target:
                return True
            if id(s) in seen:
                continue
            seen.add(id(s))
            stack.extend(preds.get(id(s), ()))
        return False

    for e in graph.eqns:
        in_steps = {id(producer[v.id]): producer[v.id] for v in e.inputs if v.id in producer}
        joined = None
        view = e.prim is broadcast_to_p  # a view unless it joins a kernel
        if fusable(e):
            # Prefer a producer's group (vertical fusion), then any group of the same
            # shape (horizontal fusion of siblings such as sin(x) and cos(x)), newest
            # first; never one that an input depends on through another step, which
            # would make the schedule cyclic.
            cands = [producer[v.id] for v in e.inputs
                     if isinstance(producer.get(v.id), Group)]
            cands += list(reversed(by_shape.get(e.out.shape, [])))
            for g in cands:
                if g.shape != e.out.shape or any(out_only.get(v.id) is g for v in e.inputs):
                    continue
                if not any(p is not g and reaches(p, g) for p in in_steps.values()):
                    joined = g
                    break
            if joined is None and view:
                producer[e.out.id] = e
                preds[id(e)] = set(in_steps.values())
                steps.append(e)
                continue
            if joined is None:
                joined = Group(len(groups), e.out.shape)
                groups.append(joined)
                by_shape.setdefault(e.out.shape, []).append(joined)
                steps.append(joined)
                preds[id(joined)] = set()
            joined.eqns.append(e)
            producer[e.out.id] = joined
            preds[id(joined)].update(p for p in in_steps.values() if p is not joined)
        elif reductions and e.out.id not in exclude and _joins_as_reduction(e, producer) is not None:
            g = producer[e.inputs[0].id]
            g.eqns.append(e)
            producer[e.out.id] = g
            if not e.params.get("keepdims"):
                out_only[e.out.id] = g
        else:
            producer[e.out.id] = e
            preds[id(e)] = set(in_steps.values())
            steps.append(e)
    return _order(steps, groups, graph)


def _order(steps, groups, graph):
    # Topological order over steps (equations and groups) by data dependencies.
    produced_by = {}
    for s in steps:
        for e in (s.eqns if isinstance(s, Group) else [s]):
            produced_by[e.out.id] = s
    for g in groups:
        members = {e.out.id for e in g.eqns}
        seen = set()
        for e in g.eqns:
            for v in e.inputs:
                if v.id not in members and v.id not in seen:
                    seen.add(v.id)
                    g.inputs.append(v)
    used_outside = {v.id for v in graph.outputs if hasattr(v, "id")}
    for s in steps:
        for e in (s.eqns if isinstance(s, Group) else [s]):
            for v in e.inputs:
                p = produced_by.get(v.id)
                if p is not None and p is not s:
                    used_outside.add(v.id)
    for g in groups:
        g.outputs = [e.out for e in g.eqns if e.out.id in used_outside]
    # Kahn's algorithm, stable in the original order
    preds = {id(s): set() for s in steps}
    for s in steps:
        for v in s.inputs:
            p = produced_by.get(v.id)
            if p is not None and p is not s:
                preds[id(s)].add(id(p))
    done, order = set(), []
    pending = list(steps)
    while pending:
        progressed = False
        rest = []
        for s in pending:
            if preds[id(s)] <= done:
                order.append(s)
                done.add(id(s))
                progressed = True
            else:
                rest.append(s)
        if not progressed:  # pragma: no cover - partition() prevents cycles
            raise RuntimeError("jit: fusion produced a cyclic schedule")
        pending = rest
    return order


def _literal(val, kind):
    if kind != "f":
        return repr(val)
    val = float(val)
    if val != val:
        return "math.nan"
    if val in (float("inf"), float("-inf")):
        return "math.inf" if val > 0 else "(-math.inf)"
    return repr(val)


def literal_inputs(g, consts):
    """Split a group's inputs into run-time arrays and 0-d constants, which are
    written into the kernel as literals (``x ** 2.0`` then compiles to a multiply)."""
    lits, arrays = {}, []
    for v in g.inputs:
        c = consts.get(v.id)
        if c is not None and getattr(c, "ndim", 1) == 0 and c.dtype.kind in "fib":
            val = host_value(c).item() if hasattr(c, "dtype") else c
            lits[v.id] = _literal(val, c.dtype.kind)
        else:
            arrays.append(v)
    return lits, arrays


def _locals(g, consts):
    lits, arrays = literal_inputs(g, consts or {})
    local = {v.id: f"a{i}" for i, v in enumerate(arrays)}
    local.update(lits)
    return local


def group_body(g, consts):
    """The group as statements over inputs a0..ak, for ``codegen_cpu.source``: the
    run-time array inputs, and ``(target, primitive, expression, operands, dtype)``
    per equation, 0-d constants given as ``fold.Lit`` operands."""
    lits, arrays = literal_inputs(g, consts)
    local = {v.id: f"a{i}" for i, v in enumerate(arrays)}
    for v in g.inputs:
        if v.id in lits:
            local[v.id] = Lit(host_value(consts[v.id]).item(), v.dtype)
    stmts = []
    for e in g.eqns:
        name = f"t{e.out.id}"
        stmts.append((name, e.prim, expr_of(e), [local[v.id] for v in e.inputs], e.out.dtype))
        local[e.out.id] = name
    return arrays, stmts


def reductions_of(g):
    """{target: output shape with the summed axes kept as 1} of the group's sums."""
    out = {}
    for e in g.eqns:
        if e.prim is sum_p:
            nd = len(g.shape)
            axes = _summed_axes(e, nd)
            out[f"t{e.out.id}"] = tuple(1 if k in axes else n for k, n in enumerate(g.shape))
    return out


def inline_expr(g, var, consts=None):
    """One expression for ``var`` over inputs a0..ak (for the GPU template)."""
    local = _locals(g, consts)
    exprs = {}
    for e in g.eqns:
        names = [local.get(v.id) or exprs[v.id] for v in e.inputs]
        exprs[e.out.id] = "(" + substitute(expr_of(e), names) + ")"
    return exprs[var.id]


def gpu_program(g, consts=None, outputs=None):
    """The group as one multi-output GPU program (``gpuad.kernels.elementwise``) for
    ``outputs`` (default: all the group's outputs, which share its loop shape).

    Returns ``(inputs, statements, outs)``: the run-time array inputs the outputs read
    (a0, a1, ... in this order; inputs only other outputs read are left out), one
    ``(vK, expression)`` per equation the outputs depend on, in order, each computed
    once per element, and per output the name of its statement. 0-d constants are
    literals, as in :func:`inline_expr`."""
    outputs = g.outputs if outputs is None else outputs
    lits, arrays = literal_inputs(g, consts or {})
    need = {v.id for v in outputs}
    live = []
    for e in reversed(g.eqns):
        if e.out.id in need:
            live.append(e)
            need.update(v.id for v in e.inputs)
    live.reverse()
    used = [v for v in arrays if v.id in need]
    local = {v.id: f"a{i}" for i, v in enumerate(used)}
    local.update(lits)
    stmts = []
    for e in live:
        name = f"v{len(stmts)}"
        stmts.append((name, substitute(expr_of(e), [local[v.id] for v in e.inputs])))
        local[e.out.id] = name
    return used, tuple(stmts), tuple(local[v.id] for v in outputs)
