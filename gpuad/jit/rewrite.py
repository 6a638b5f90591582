"""Graph rewrites between tracing and fusion (run by ``gpuad.jit._optimize``).

Each makes the graph cheaper for the shapes Jacobians have, and each keeps every
value it defines:

* ``fold_constants``: equations whose inputs are all constants are evaluated once.
* ``contractions_through_identity``: an ``einsum`` of ``eye * Y`` contracts the
  identity away (forward-mode bases meeting a matrix).
* ``contractions_of_products``: an ``einsum`` of a product of one per-cell factor and
  constants contracts the constants at compile time (reverse-mode bases meeting a
  matrix).
* ``scatters_to_selects``: ``scatter_add`` with a static index becomes a fusable
  ``where``.
* ``thin_contractions``: an ``einsum`` with a constant operand that sums over at most
  four positions becomes that many broadcast products, which fuse.

``scatter_add`` with a static index (ints, full slices, ``None``) is the VJP of
component indexing such as ``F[0, 1]``: hand-written determinants, invariants and
stencils use dozens of them, and reverse mode turns each into a zero-filled array of
the full shape with one slot written. With only ints and full slices the result is
pointwise in the update: ``where(mask, upd, 0)``, ``mask`` a constant that is true at
the indexed positions and broadcast over the sliced axes. The scatters then fuse with
the ``add`` that accumulates them (one kernel instead of one zero-fill, one strided
write and one full-size add per component).
"""
from __future__ import annotations

import numpy as np

from .graph import Eqn, Var, host_value


def _static_layout(spec, shape, upd_shape):
    """For a scatter index of ints / full slices / None into ``shape``: the update's
    shape with a 1 at every int axis, and {axis: position} of the ints; None when the
    index has anything else (arrays, partial slices)."""
    from ..ops.indexing import ArrayRef
    padded, ints = [], {}
    k = 0
    for s in spec:
        if s is None:
            continue
        if isinstance(s, ArrayRef) or k >= len(shape):
            return None
        n = shape[k]
        if isinstance(s, int):
            ints[k] = s % n
            padded.append(1)
        elif isinstance(s, slice) and s.indices(n) == (0, n, 1):
            padded.append(n)
        else:
            return None
        k += 1
    padded.extend(shape[k:])
    if int(np.prod(padded)) != int(np.prod(upd_shape)):  # pragma: no cover - shapes agree
        return None
    return tuple(padded), ints


def scatters_to_selects(graph):
    """Rewrite static-index ``scatter_add`` equations as reshape + ``where``."""
    from ..ops.indexing import scatter_add_p
    from ..ops.pointwise import where_p
    from ..ops.structural import reshape_p
    eqns, masks, zeros = [], {}, {}
    for e in graph.eqns:
        layout = None
        if e.prim is scatter_add_p and len(e.inputs) == 1 and e.out.dtype.kind in "fiu":
            layout = _static_layout(e.params["spec"], e.out.shape, e.inputs[0].shape)
        if layout is None:
            eqns.append(e)
            continue
        padded, ints = layout
        upd = e.inputs[0]
        if padded != upd.shape:
            r = graph.new_var(padded, upd.dtype)
            eqns.append(Eqn(reshape_p, [upd], {"shape": padded}, r))
            upd = r
        mshape = tuple(e.out.shape[k] if k in ints else 1 for k in range(len(e.out.shape)))
        mkey = (mshape, tuple(sorted(ints.items())))
        m = masks.get(mkey)
        if m is None:
            arr = np.zeros(mshape, dtype=np.bool_)
            arr[tuple(ints.get(k, 0) for k in range(len(mshape)))] = True
            m = masks[mkey] = graph.new_var(mshape, arr.dtype)
            graph.consts[m.id] = arr
        z = zeros.get(e.out.dtype)
        if z is None:
            z = zeros[e.out.dtype] = graph.new_var((), e.out.dtype)
            graph.consts[z.id] = np.zeros((), dtype=e.out.dtype)
        eqns.append(Eqn(where_p, [m, upd, z], {}, e.out))
    graph.eqns = eqns
    return graph


_SMALL_DET = 3  # up to this order a determinant is written out as arithmetic


def small_dets_as_arithmetic(graph):
    """``det`` of matrices up to 3x3 becomes its cofactor expansion on component reads
    (static-index gathers, which are strided views): a few multiplies and adds that
    fuse with what surrounds them, where a LAPACK call per matrix costs microseconds.
    ``linalg.det`` and a hand-written expansion then compile to the same kernels; so do
    the 2x2 minors of det's own derivative rules."""
    from ..ops.indexing import gather_p
    from ..ops.linalg import det_p
    from ..ops.pointwise import add_p, mul_p, sub_p
    eqns = []
    emit = _Emitter(graph, eqns)
    for e in graph.eqns:
        X = e.inputs[0] if e.inputs else None
        if (e.prim is not det_p or X.shape[-1] > _SMALL_DET or 0 in X.shape
                or X.dtype.kind not in "fc"):
            eqns.append(e)
            continue
        n, lead, dt = X.shape[-1], X.shape[:-2], e.out.dtype
        reads = {}

        def a(i, j, out=None):
            if (i, j) not in reads or out is not None:
                spec = (slice(None),) * len(lead) + (i, j)
                reads[i, j] = emit(gather_p, [X], {"spec": spec}, lead, dt, out=out)
            return reads[i, j]

        def op(prim, x, y, out=None):
            return emit(prim, [x, y], {}, lead, dt, out=out)

        def det2(r0, r1, c0, c1, out=None):
            return op(sub_p, op(mul_p, a(r0, c0), a(r1, c1)), op(mul_p, a(r0, c1), a(r1, c0)),
                      out=out)
        if n == 1:
            a(0, 0, out=e.out)
        elif n == 2:
            det2(0, 1, 0, 1, out=e.out)
        else:
            t0 = op(mul_p, a(0, 0), det2(1, 2, 1, 2))
            t1 = op(mul_p, a(0, 1), det2(1, 2, 0, 2))
            t2 = op(mul_p, a(0, 2), det2(1, 2, 0, 1))
            op(add_p, op(sub_p, t0, t1), t2, out=e.out)
    graph.eqns = eqns
    return graph


_CONST_FOLD_MAX = 1 << 16  # elements: bigger all-constant results stay run-time steps


def fold_constants(graph, device):
    """Evaluate equations whose inputs are all constants once, at compile time (an
    identity basis pushed through a constant matrix, a mask built from constants):
    their results become constants, which the code generator can fold further."""
    from ..backends import get_backend
    be = get_backend(device)
    eqns = []
    for e in graph.eqns:
        if (e.inputs and all(v.id in graph.consts for v in e.inputs)
                and int(np.prod(e.out.shape)) <= _CONST_FOLD_MAX):
            ins = [graph.consts[v.id] for v in e.inputs]
            if device != "cpu":  # rewrites make host constants (masks, one-hot matrices)
                ins = [be.asarray(c) if isinstance(c, np.ndarray) else c for c in ins]
            val = e.prim.impl(be, *ins, **e.params)
            # NumPy's ascontiguousarray makes a 0-d result 1-d: keep the var's shape
            graph.consts[e.out.id] = be.xp.ascontiguousarray(val).reshape(e.out.shape)
        else:
            eqns.append(e)
    graph.eqns = eqns
    return graph


class _Emitter:
    """Appends the equations of a rewrite to the new equation list, on fresh vars
    (or on ``out``, the var of the equation being replaced)."""

    def __init__(self, graph, eqns):
        self.graph, self.eqns = graph, eqns

    def __call__(self, prim, ins, params, shape, dtype, out=None):
        v = out if out is not None else self.graph.new_var(shape, dtype)
        self.eqns.append(Eqn(prim, ins, params, v))
        return v

    def in_order(self, v, sub, out_sub, sizes):
        """``v`` (indexed by the letters ``sub``) transposed to ``out_sub``'s order,
        with a size-1 axis for each output letter it lacks."""
        from ..ops.structural import reshape_p, transpose_p
        perm, shape = _output_layout(sub, out_sub, sizes)
        if perm != list(range(len(sub))):
            v = self(transpose_p, [v], {"perm": tuple(perm)}, tuple(v.shape[i] for i in perm),
                     v.dtype)
        return v if shape == v.shape else self(reshape_p, [v], {"shape": shape}, shape, v.dtype)


def _output_layout(sub, out_sub, sizes):
    """For a value indexed by the letters ``sub``: the permutation putting them in
    ``out_sub``'s order, and its shape there, with a 1 for each output letter it lacks."""
    perm = sorted(range(len(sub)), key=lambda i: out_sub.index(sub[i]))
    return perm, tuple(sizes[c] if c in sub else 1 for c in out_sub)


def _identity_axes(E, ndim):
    """(p, q) when constant ``E``, broadcast to rank ``ndim``, is an identity matrix
    over axes p < q (and 1 on every other axis); else None."""
    E = host_value(E)
    if E.ndim > ndim:
        return None
    shape = (1,) * (ndim - E.ndim) + E.shape
    axes = [k for k in range(ndim) if shape[k] != 1]
    if len(axes) != 2 or shape[axes[0]] != shape[axes[1]]:
        return None
    n = shape[axes[0]]
    if n == 0 or not np.array_equal(E.reshape(n, n), np.eye(n, dtype=E.dtype)):
        return None
    return axes[0], axes[1]


def _mul_factors(v, producer, consts, nd, depth=0):
    """The factors of ``v`` through a tree of broadcasting ``mul`` equations (each of
    rank at most ``nd``); [v] when ``v`` is not a product."""
    from ..ops.pointwise import mul_p
    e = producer.get(v.id)
    if e is None or e.prim is not mul_p or depth > 16 or v.id in consts:
        return [v]
    if any(len(x.shape) > nd for x in e.inputs):
        return [v]
    return [f for x in e.inputs for f in _mul_factors(x, producer, consts, nd, depth + 1)]


def sums_through_identity(graph):
    """``sum`` over axis q of a product with a constant identity factor over axes
    (p, q), no other factor spanning p: the identity is summed away,

        sum_q [p == q] F[.., q, ..]  =  F[.., p, ..],

    by moving each other factor's axis q to p. A forward-mode basis meets a reduction
    this way (jacfwd of ``prod(y[:, None] ** R, 0)``: the basis times the exclusive
    products, summed over species); the (B, n, n, ...) product is never formed."""
    from ..ops.pointwise import mul_p
    from ..ops.structural import reshape_p, sum_p, transpose_p
    producer = {e.out.id: e for e in graph.eqns}
    eqns = []
    emit = _Emitter(graph, eqns)
    for e in graph.eqns:
        plan = None
        if e.prim is sum_p and e.out.dtype.kind in "fc" and 0 not in e.inputs[0].shape:
            plan = _identity_sum_plan(e, producer, graph.consts)
        if plan is None:
            eqns.append(e)
            continue
        others, p, q, axes = plan
        X = e.inputs[0]
        nd = len(X.shape)
        acc = None
        for f in others:
            shape = (1,) * (nd - len(f.shape)) + f.shape
            if shape != f.shape:
                f = emit(reshape_p, [f], {"shape": shape}, shape, f.dtype)
            perm = list(range(nd))
            perm[p], perm[q] = q, p
            moved = tuple(shape[k] for k in perm)
            if any(shape[k] != 1 for k in range(min(p, q) + 1, max(p, q))):
                f = emit(transpose_p, [f], {"perm": tuple(perm)}, moved, f.dtype)
            else:  # only size-1 axes between: moving q to p is a reshape
                f = emit(reshape_p, [f], {"shape": moved}, moved, f.dtype)
            if acc is not None:
                shape = tuple(max(a, b) for a, b in zip(acc.shape, f.shape))
                f = emit(mul_p, [acc, f], {}, shape, e.out.dtype)
            acc = f
        full = tuple(1 if k == q else n for k, n in enumerate(X.shape))
        if acc.shape != full or acc.dtype != e.out.dtype:
            from ..ops.structural import broadcast_to_p
            acc = emit(broadcast_to_p, [acc], {"shape": full}, full, acc.dtype)
        rest = tuple(a for a in axes if a != q)
        if rest:
            eqns.append(Eqn(sum_p, [acc], dict(e.params, axes=tuple(axes)), e.out))
        else:
            eqns.append(Eqn(reshape_p, [acc], {"shape": e.out.shape}, e.out))
    graph.eqns = eqns
    return graph


def _identity_sum_plan(e, producer, consts):
    X = e.inputs[0]
    nd = len(X.shape)
    axes = tuple(sorted(a % nd for a in e.params["axes"]))
    if X.dtype != e.out.dtype:
        return None
    facs = _mul_factors(X, producer, consts, nd)
    if len(facs) < 2:
        return None
    for k, E in enumerate(facs):
        if E.id not in consts:
            continue
        pq = _identity_axes(consts[E.id], nd)
        if pq is None or (pq[0] in axes) == (pq[1] in axes):
            continue
        q = pq[0] if pq[0] in axes else pq[1]
        p = pq[1] if q == pq[0] else pq[0]
        others = facs[:k] + facs[k + 1:]
        padded = [(1,) * (nd - len(f.shape)) + f.shape for f in others]
        if any(s[p] != 1 for s in padded):
            continue  # another factor spans p: the sum is a diagonal, not a relabelling
        return others, p, q, axes
    return None


def contractions_through_identity(graph):
    """``einsum`` whose operand is ``eye * Y`` (a forward-mode basis times a per-cell
    derivative, as in jacfwd of ``g(log(y) @ R)``) contracts the identity away:

        sum_k [a == k] Y[b, k] W[k, j]  =  Y[b, a] W[a, j]

    The einsum is relabelled without the identity, and when no index is left to sum
    it becomes a broadcast multiply, which fuses: an O(n^3) contraction per cell
    becomes O(n^2) pointwise work."""
    from ..ops.linalg import einsum_p
    from ..ops.pointwise import mul_p
    from ..ops.structural import broadcast_to_p, reshape_p
    producer = {e.out.id: e for e in graph.eqns}
    eqns = []
    emit = _Emitter(graph, eqns)

    for e in graph.eqns:
        new = None
        if e.prim is einsum_p and len(e.inputs) == 2 and "." not in e.params["subscripts"]:
            new = _relabel(e, producer, graph.consts)
        if new is None:
            eqns.append(e)
            continue
        (ysub, Y, keep_shape), (wsub, W), out_sub = new
        # Y without the kept identity axis (size 1 there), broadcast to its letters' sizes
        y = emit(reshape_p, [Y], {"shape": keep_shape}, keep_shape, Y.dtype) \
            if Y.shape != keep_shape else Y
        sizes = dict(zip(wsub, W.shape))
        sizes.update({c: n for c, n in zip(ysub, keep_shape) if n != 1})
        sizes.update({c: n for c, n in zip(out_sub, e.out.shape)})
        full = tuple(sizes[c] for c in ysub)
        if full != keep_shape:
            y = emit(broadcast_to_p, [y], {"shape": full}, full, Y.dtype)
        summed = (set(ysub) | set(wsub)) - set(out_sub)
        if summed or len(set(ysub)) != len(ysub) or len(set(wsub)) != len(wsub):
            eqns.append(Eqn(einsum_p, [y, W], {"subscripts": f"{ysub},{wsub}->{out_sub}"}, e.out))
            continue
        # nothing left to sum: a broadcast product in the output's index order
        ops = [emit.in_order(v, sub, out_sub, sizes) for sub, v in ((ysub, y), (wsub, W))]
        eqns.append(Eqn(mul_p, ops, {}, e.out))
    graph.eqns = eqns
    return graph


def _relabel(e, producer, consts):
    from ..ops.pointwise import mul_p
    if any(0 in v.shape for v in (*e.inputs, e.out)):
        return None  # an empty contraction: nothing to gain, and size-1 squeezing misreads it
    ins, out_sub = e.params["subscripts"].split("->")
    subs = ins.split(",")
    for xi in (0, 1):
        X, xsub = e.inputs[xi], subs[xi]
        m = producer.get(X.id)
        if m is None or m.prim is not mul_p or m.out.shape != X.shape:
            continue
        for ei in (0, 1):
            E, Y = m.inputs[ei], m.inputs[1 - ei]
            if E.id not in consts or len(Y.shape) > len(X.shape):
                continue
            pq = _identity_axes(consts[E.id], len(X.shape))
            if pq is None:
                continue
            yshape = (1,) * (len(X.shape) - len(Y.shape)) + Y.shape
            p, q = pq
            for d, c in ((p, q), (q, p)):  # d: kept in the output, c: summed
                ld, lc = xsub[d], xsub[c]
                if (ld in out_sub and lc not in out_sub and yshape[d] == 1
                        and xsub.count(ld) == 1 and xsub.count(lc) == 1):
                    ysub = xsub[:d] + xsub[d + 1:]
                    ysub = ysub.replace(lc, ld)
                    keep = tuple(n for k, n in enumerate(yshape) if k != d)
                    wsub = subs[1 - xi].replace(lc, ld)
                    return (ysub, Y, keep), (wsub, e.inputs[1 - xi]), out_sub
    return None


def contractions_of_products(graph):
    """``einsum(X, W)`` with ``W`` constant and ``X`` a product of broadcast factors of
    which one carries a summed index and varies at run time: the other constant
    factors and ``W`` are contracted once (``fold_constants`` evaluates it), and the
    run-time factors without a summed index multiply the result:

        sum_j C[a, j] r[b, j] R[k, j]  =  sum_j r[b, j] Q[j, a, k],   Q = C R

    jacrev of ``r(y) @ N.T`` pulls a constant basis row through ``N`` and meets the
    per-cell ``r`` this way; instead of materialising ``C * r`` (B x 20 x 60 for the
    kinetics workload) and contracting it, one GEMM of ``r`` with ``Q`` remains. A sum
    of such products (the tangent of ``k * y[i0] * y[i1]``) is contracted term by
    term."""
    from ..ops.linalg import einsum_p
    from ..ops.pointwise import add_p
    producer = {e.out.id: e for e in graph.eqns}
    eqns = []
    emit = _Emitter(graph, eqns)
    for e in graph.eqns:
        plans = None
        if e.prim is einsum_p and len(e.inputs) == 2 and "." not in e.params["subscripts"]:
            plans = _product_plans(e, producer, graph.consts)
        if plans is None:
            eqns.append(e)
            continue
        acc = emit_contraction(emit, plans[0], e.out.dtype, e.out.shape)
        for plan in plans[1:]:  # a sum of products: the contraction of each, added
            acc = emit(add_p, [acc, emit_contraction(emit, plan, e.out.dtype, e.out.shape)], {},
                       e.out.shape, e.out.dtype)
        eqns[-1].out = e.out  # the last equation computes acc: it now defines e's value
    graph.eqns = eqns
    return graph


def squeezed(emit, v):
    """``v`` without its size-1 axes: one axis per letter remains."""
    from ..ops.structural import reshape_p
    shape = tuple(n for n in v.shape if n != 1)
    return v if shape == v.shape else emit(reshape_p, [v], {"shape": shape}, shape, v.dtype)


def emit_contraction(emit, plan, dt, out_shape):
    """Emit a product plan (``product_plan``): the constant factors and ``W`` (absent
    when ``W`` is None: a plain sum of the product) contracted into one constant ``q``,
    one contraction of the run-time factor with ``q``, then the run-time factors without
    a summed index multiplied in, broadcast to ``out_shape``."""
    from ..ops.linalg import einsum_p
    from ..ops.pointwise import mul_p
    from ..ops.structural import broadcast_to_p
    (var, var_sub), consts, (W, wsub), outer, out_sub, sizes = plan
    subs = [s for _, s in consts] + ([wsub] if W is not None else [])
    ops = [squeezed(emit, v) for v, _ in consts] + ([W] if W is not None else [])
    q_sub = "".join(c for c in dict.fromkeys("".join(subs)) if c in out_sub or c in var_sub)
    q = emit(einsum_p, ops, {"subscripts": ",".join(subs) + "->" + q_sub},
             tuple(sizes[c] for c in q_sub), dt)
    inner_out = "".join(c for c in out_sub if c in var_sub or c in q_sub)
    acc = emit(einsum_p, [squeezed(emit, var), q],
               {"subscripts": f"{var_sub},{q_sub}->{inner_out}"},
               tuple(sizes[c] for c in inner_out), dt)
    acc = emit.in_order(acc, inner_out, out_sub, sizes)
    for v, s in outer:
        f = emit.in_order(squeezed(emit, v), s, out_sub, sizes)
        shape = tuple(max(x, y) for x, y in zip(acc.shape, f.shape))
        acc = emit(mul_p, [acc, f], {}, shape, dt)
    if acc.shape != out_shape:
        acc = emit(broadcast_to_p, [acc], {"shape": out_shape}, out_shape, dt)
    return acc


def _terms(v, producer, depth=0):
    """The terms of ``v`` through a tree of same-shape ``add`` equations."""
    from ..ops.pointwise import add_p
    e = producer.get(v.id)
    if e is None or e.prim is not add_p or depth > 8 or any(x.shape != v.shape for x in e.inputs):
        return [v]
    return _terms(e.inputs[0], producer, depth + 1) + _terms(e.inputs[1], producer, depth + 1)


def _product_plans(e, producer, consts):
    """One plan per term of the operand (``product_plan``), or None unless every
    term has one: ``einsum(P1 + P2, W) = einsum(P1, W) + einsum(P2, W)``."""
    if any(0 in v.shape for v in (*e.inputs, e.out)):
        return None  # an empty contraction: nothing to gain, and size-1 squeezing misreads it
    ins, out_sub = e.params["subscripts"].split("->")
    subs = ins.split(",")
    for xi in (0, 1):
        X, W = e.inputs[xi], e.inputs[1 - xi]
        plans = [product_plan(T, subs[xi], W, subs[1 - xi], out_sub, e.out.shape, producer, consts)
                 for T in _terms(X, producer)]
        if all(p is not None for p in plans):
            return plans
    return None


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def scatters_as_contractions(graph):
    """``scatter_add`` of a product (constant factors times one run-time factor) at a
    constant integer index array over one axis is a contraction with the one-hot
    matrix ``S[idx..., l] = [idx == l]``: it joins the constant factors in a constant
    ``Q`` and one GEMM of the run-time factor with ``Q`` remains. jacrev of a gather
    (``y[ridx]`` in a mass-action rate) pulls each basis row back through the gather
    this way; ``np.add.at`` of the full (B, n, ...) expansion is what it replaces."""
    from ..ops.indexing import scatter_add_p
    from ..ops.pointwise import add_p
    producer = {e.out.id: e for e in graph.eqns}
    eqns = []
    emit = _Emitter(graph, eqns)
    for e in graph.eqns:
        plans = None
        if (e.prim is scatter_add_p and len(e.inputs) == 2 and e.out.dtype.kind == "f"
                and e.inputs[1].id in graph.consts and 0 not in e.out.shape
                and 0 not in e.inputs[0].shape):
            plans = _scatter_plans(e, producer, graph)
        if plans is None:
            eqns.append(e)
            continue
        acc = emit_contraction(emit, plans[0], e.out.dtype, e.out.shape)
        for plan in plans[1:]:
            acc = emit(add_p, [acc, emit_contraction(emit, plan, e.out.dtype, e.out.shape)], {},
                       e.out.shape, e.out.dtype)
        eqns[-1].out = e.out
    graph.eqns = eqns
    return graph


def _scatter_plans(e, producer, graph):
    from ..ops.indexing import ArrayRef
    spec, shape = e.params["spec"], e.out.shape
    upd, idx_var = e.inputs
    if (len(spec) > len(shape) or sum(isinstance(s, ArrayRef) for s in spec) != 1
            or any(not isinstance(s, ArrayRef) and not (isinstance(s, slice) and s == slice(None))
                   for s in spec)):
        return None
    idx = host_value(graph.consts[idx_var.id])
    if idx.dtype.kind not in "iu" or idx.ndim == 0:
        return None
    p = next(k for k, s in enumerate(spec) if isinstance(s, ArrayRef))
    n = shape[p]
    if upd.shape != shape[:p] + idx.shape + shape[p + 1:] or np.any((idx < -n) | (idx >= n)):
        return None
    usub = _LETTERS[:len(upd.shape)]
    isub = usub[p:p + idx.ndim]
    lsub = _LETTERS[len(upd.shape)]
    out_sub = usub[:p] + lsub + usub[p + idx.ndim:]
    onehot = (np.mod(idx, n)[..., None] == np.arange(n)).astype(e.out.dtype)
    if onehot.size > _CONST_FOLD_MAX:
        return None
    S = graph.new_var(onehot.shape, onehot.dtype)
    graph.consts[S.id] = onehot  # a host constant: moved to the device where it is used
    plans = [product_plan(T, usub, S, isub + lsub, out_sub, shape, producer, graph.consts)
             for T in _terms(upd, producer)]
    # only an expansion pays: constant factors with letters the run-time factor lacks (a
    # basis); a scatter of the run-time values alone moves fewer bytes than a GEMM
    if any(pl is None or not any(set(s) - set(pl[0][1]) for _, s in pl[1]) for pl in plans):
        del graph.consts[S.id]
        return None
    return plans


def product_plan(X, xsub, W, wsub, out_sub, out_shape, producer, consts):
    """For ``einsum(X, W)`` (or the sum of ``X`` over the letters missing from
    ``out_sub`` when ``W`` is None, ``wsub`` then ""): (run-time factor with a summed
    index, constant factors, (W, subscripts), run-time factors without one, output
    subscripts, letter sizes), or None. A factor that is itself a ``sum`` of a product
    is opened up, its summed axes summed in the same contraction (the tangent of a
    reduction meeting a matrix: jacfwd of ``N @ (k * prod(y[idx], -1))``)."""
    if len(set(xsub)) != len(xsub) or len(set(wsub)) != len(wsub):
        return None
    if W is not None and W.id not in consts:
        return None
    sizes = dict(zip(xsub, X.shape))
    if W is not None:
        sizes.update(zip(wsub, W.shape))
    sizes.update(zip(out_sub, out_shape))
    used = set(xsub) | set(wsub) | set(out_sub)
    fresh = (c for c in _LETTERS if c not in used)
    lettered, inner_summed = [], set()
    if not _open_product(X, xsub, producer, consts, sizes, fresh, lettered, inner_summed, 0):
        return None
    if len(lettered) < 2:
        return None
    summed = ((set(xsub) | set(wsub)) - set(out_sub)) | inner_summed
    const = [(f, s) for f, s in lettered if f.id in consts]
    inner = [(f, s) for f, s in lettered if f.id not in consts and set(s) & summed]
    outer = [(f, s) for f, s in lettered if f.id not in consts and not set(s) & summed]
    if len(inner) != 1 or not const:
        return None
    qsize = 1
    for c in set("".join(s for _, s in const) + wsub):
        qsize *= sizes[c]
    if qsize > _CONST_FOLD_MAX:
        return None
    return inner[0], const, (W, wsub), outer, out_sub, sizes


def _open_product(v, sub, producer, consts, sizes, fresh, out, summed, depth):
    """Append to ``out`` the factors of ``v`` (indexed by the letters ``sub``), each
    with the letters of its non-unit axes, through broadcasting ``mul`` and
    ``sum`` (no keepdims) equations; a sum's axes get fresh letters, added to
    ``summed``. False when a letter of a product or sum is covered by no factor (a
    broadcast term: its sum would need a count)."""
    from ..ops.pointwise import mul_p
    from ..ops.structural import sum_p
    e = producer.get(v.id)
    opened = (e is not None and v.id not in consts and depth <= 16
              and (e.prim is mul_p or (e.prim is sum_p and not e.params.get("keepdims"))))
    if opened and e.prim is mul_p and any(len(x.shape) > len(sub) for x in e.inputs):
        opened = False
    if not opened:
        if any(n not in (1, sizes[c]) for c, n in zip(sub, v.shape)):
            return False
        out.append((v, "".join(c for c, n in zip(sub, v.shape) if n != 1)))
        return True
    if e.prim is mul_p:
        start = len(out)
        for x in e.inputs:
            if not _open_product(x, sub[len(sub) - len(x.shape):], producer, consts, sizes, fresh,
                                 out, summed, depth + 1):
                return False
    else:
        Y = e.inputs[0]
        axes = {a % len(Y.shape) for a in e.params["axes"]}
        kept = iter(sub)
        try:
            ysub = "".join(next(fresh) if k in axes else next(kept) for k in range(len(Y.shape)))
        except StopIteration:  # out of letters
            return False
        for k in axes:
            sizes[ysub[k]] = Y.shape[k]
            summed.add(ysub[k])
        start = len(out)
        if not _open_product(Y, ysub, producer, consts, sizes, fresh, out, summed, depth + 1):
            return False
        sub = ysub
    covered = set("".join(s for _, s in out[start:]))
    return all(c in covered for c in sub if sizes[c] != 1)


def transposed_contractions(graph):
    """A ``transpose`` of an ``einsum`` result that nothing else reads becomes the
    einsum's own output order: the contraction writes the layout the consumer wants
    (jacfwd's Jacobian comes out of its contraction as (B, in, out) and is transposed
    to (B, out, in)) instead of a strided view that a later step copies."""
    from ..ops.linalg import einsum_p
    from ..ops.structural import transpose_p
    uses = {}
    for e in graph.eqns:
        for v in e.inputs:
            uses[v.id] = uses.get(v.id, 0) + 1
    for v in graph.outputs:
        if isinstance(v, Var):
            uses[v.id] = uses.get(v.id, 0) + 1
    producer = {e.out.id: e for e in graph.eqns}
    eqns = []
    for e in graph.eqns:
        m = producer.get(e.inputs[0].id) if e.prim is transpose_p and e.inputs else None
        if (m is not None and m.prim is einsum_p and uses.get(m.out.id) == 1
                and "->" in m.params["subscripts"] and "." not in m.params["subscripts"]):
            ins, out = m.params["subscripts"].split("->")
            perm = e.params["perm"]
            if len(out) == len(perm):
                m.params = dict(m.params, subscripts=ins + "->" + "".join(out[k] for k in perm))
                m.out = e.out
                continue
        eqns.append(e)
    graph.eqns = eqns
    return graph


_THIN_K = 4  # summed positions up to which a constant contraction is cheaper unrolled


def thin_contractions(graph):
    """An ``einsum`` of a value X and a constant W summing one index k of at most
    ``_THIN_K`` positions is written out as ``sum_k X[.., k, ..] * W[.., k, ..]``:
    component reads of X (strided views, NOTE [strided views] in ``gpuad.jit``) times
    constant slices of W in the output's layout, added. A network's first layer on a
    2-D input (``W1 @ x``, K = 2) then fuses with its bias and activation instead of
    being a matrix product of inner size 2, which BLAS runs at a fraction of its speed
    and which writes and rereads the whole layer."""
    from ..ops.indexing import gather_p
    from ..ops.linalg import einsum_p
    from ..ops.pointwise import add_p, mul_p
    eqns = []
    emit = _Emitter(graph, eqns)
    for e in graph.eqns:
        plan = _thin_plan(e, graph.consts) if e.prim is einsum_p else None
        if plan is None:
            eqns.append(e)
            continue
        X, xsub, Wc, wsub, out_sub, k = plan
        sizes = dict(zip(xsub, X.shape))
        sizes.update(zip(out_sub, e.out.shape))
        xa, wa = xsub.index(k), wsub.index(k)
        rest_x = xsub.replace(k, "")
        terms = []
        for pos in range(sizes[k]):
            spec = tuple(pos if a == xa else slice(None) for a in range(len(xsub)))
            shape = tuple(n for a, n in enumerate(X.shape) if a != xa)
            xk = emit.in_order(emit(gather_p, [X], {"spec": spec}, shape, X.dtype),
                              rest_x, out_sub, sizes)
            wk = _in_layout(np.take(Wc, pos, axis=wa), wsub.replace(k, ""), out_sub)
            wv = graph.new_var(wk.shape, wk.dtype)
            graph.consts[wv.id] = wk
            terms.append(emit(mul_p, [xk, wv], {}, e.out.shape, e.out.dtype,
                              out=e.out if sizes[k] == 1 else None))
        acc = terms[0]
        for n, t in enumerate(terms[1:], 2):
            acc = emit(add_p, [acc, t], {}, e.out.shape, e.out.dtype,
                       out=e.out if n == len(terms) else None)
    graph.eqns = eqns
    return graph


def _thin_plan(e, consts):
    """(X, its letters, W's values, W's letters, output letters, the summed letter)
    for ``thin_contractions``, or None."""
    sub = e.params["subscripts"]
    if len(e.inputs) != 2 or "." in sub or "->" not in sub:
        return None
    (sa, sb), out = sub.split("->")[0].split(","), sub.split("->")[1]
    a, b = e.inputs
    if (a.id in consts) == (b.id in consts):
        return None
    if a.id in consts:
        a, b, sa, sb = b, a, sb, sa
    W = host_value(consts[b.id])  # its slices become new constants (moved to the device)
    if W.dtype.kind != "f" or e.out.dtype.kind != "f":
        return None
    if any(len(set(t)) != len(t) for t in (sa, sb, out)):
        return None
    summed = (set(sa) | set(sb)) - set(out)
    if len(summed) != 1 or set(sa) & set(sb) != summed:  # no letter batched over both
        return None
    (k,) = summed
    if not 0 < a.shape[sa.index(k)] <= _THIN_K or a.shape[sa.index(k)] != W.shape[sb.index(k)]:
        return None  # an empty sum stays an einsum: it is zeros, with no terms to add
    if len(sa) != len(a.shape) or len(sb) != W.ndim:
        return None
    return a, sa, W, sb, out, k


def _in_layout(arr, sub, out_sub):
    """Constant ``arr`` (letters ``sub``) transposed to ``out_sub``'s order, with a
    size-1 axis for each output letter it lacks."""
    perm, shape = _output_layout(sub, out_sub, dict(zip(sub, arr.shape)))
    return np.ascontiguousarray(np.transpose(arr, perm)).reshape(shape)  # 0-d stays 0-d
