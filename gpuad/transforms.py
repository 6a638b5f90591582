"""Function transforms with torch.func semantics: jvp, vjp, grad, grad_and_value,
jacfwd, jacrev, hessian, vmap.

``jacfwd`` is ``vmap`` of ``jvp`` over the rows of an identity and ``jacrev`` is
``vmap`` of the VJP function over the output basis, so every primitive inside runs
once for all basis vectors (DESIGN.md principle 3): the launch count of a Jacobian
does not grow with its size.
"""
from __future__ import annotations

import functools
import numbers

import numpy as np

from .core import Tracer, new_trace
from .errors import GpuadTypeError, GpuadValueError
from .interpreters.batching import BatchTrace, BatchTracer
from .interpreters.jvp import JVPTrace, JVPTracer
from .interpreters.reverse import ReverseTrace, ReverseTracer
from .pytree import tree_flatten, tree_unflatten
from .interpreters.backprop import backprop
from .tape import LeafNode
from .tensor import TensorBase

# ---------------------------------------------------------------------------------
# argument helpers


def _argnums(argnums, nargs, fn):
    single = isinstance(argnums, numbers.Integral) and not isinstance(argnums, bool)
    nums = (argnums,) if single else argnums
    if not isinstance(nums, tuple) or not nums or not all(
            isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in nums):
        raise GpuadTypeError(f"{fn}: argument 'argnums' must be an int or a non-empty tuple of ints, "
                             f"got {argnums!r}")
    out = []
    for a in nums:
        if not -nargs <= a < nargs:
            raise GpuadValueError(f"{fn}: argument 'argnums' {a} is out of range for a function "
                                  f"called with {nargs} positional arguments")
        a = int(a) % nargs
        if a in out:
            raise GpuadValueError(f"{fn}: argument 'argnums' repeats argument {a}")
        out.append(a)
    return tuple(out), single


def _check_func(func, fn):
    if not callable(func):
        raise GpuadTypeError(f"{fn}: argument 'func' must be a callable (the function to transform), "
                             f"got {type(func).__name__} {func!r:.60}")


def _check_no_numbers(arg, fn, where):
    """A container passed as a differentiated argument is a pytree: its leaves are
    differentiated one by one, so they must be tensors or arrays. A list of Python
    numbers is almost always meant as one array; reject it (torch.func does too)
    rather than differentiate each number separately."""
    if isinstance(arg, (tuple, list, dict)):
        for x in tree_flatten(arg)[0]:
            if isinstance(x, (numbers.Number, np.generic)):
                raise GpuadTypeError(
                    f"{fn}: {where} is a {type(arg).__name__} holding Python numbers (got "
                    f"{type(x).__name__} {x!r}); a container passed as a differentiated argument "
                    "must be a pytree of tensors. Pass ad.tensor(...) of it to differentiate "
                    "an array")


def _check_output(out, fn):
    if out is None:
        raise GpuadTypeError(f"{fn}: the function returned None; it must return a tensor or a "
                             "pytree (tuple, list, dict) of tensors to differentiate")


def _diff_leaf(x, fn, where):
    """A differentiated input leaf: a float tensor (arrays and floats are converted)."""
    if not isinstance(x, TensorBase):
        if isinstance(x, bool) or isinstance(x, (numbers.Integral,)):
            raise GpuadTypeError(f"{fn}: {where} must be a floating point tensor, got int {x!r}")
        if isinstance(x, (numbers.Number, np.ndarray, np.generic)) or hasattr(x, "__dlpack__") \
                or hasattr(x, "__cuda_array_interface__"):
            from .ops.creation import tensor
            x = tensor(x)
        else:
            raise GpuadTypeError(f"{fn}: {where} must be a tensor, got {type(x).__name__}")
    if x.dtype.kind not in "fc":
        raise GpuadTypeError(f"{fn}: {where} must be a floating point or complex tensor to be "
                             f"differentiated, got dtype {x.dtype}")
    return x


def _out_leaf(x, fn):
    if isinstance(x, TensorBase):
        return x
    if isinstance(x, (numbers.Number, np.ndarray, np.generic)):
        from .ops.creation import tensor
        return tensor(x)
    raise GpuadTypeError(f"{fn}: the function must return tensors (or pytrees of tensors), got "
                         f"{type(x).__name__}")


def _split_aux(out, has_aux, fn):
    if not has_aux:
        return out, None
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        what = (f"a tensor of shape {tuple(out.shape)}" if isinstance(out, TensorBase) else
                f"a {type(out).__name__} of length {len(out)}" if isinstance(out, (tuple, list)) else
                type(out).__name__)
        raise GpuadTypeError(f"{fn}: with has_aux=True the function must return a pair "
                             f"(output, aux), got {what}")
    return out[0], out[1]


def _lower(x, trace):
    """Strip this trace's tracer wrapper (for aux values and primal outputs; under vmap
    only where the value is known to be unbatched)."""
    return x.primal if _owned(x, trace) else x


def _owned(x, trace):
    """Whether ``x`` is a tracer of ``trace`` (each transform reads its own tracers)."""
    return isinstance(x, Tracer) and x._trace is trace


def _lower_tree(tree, trace):
    leaves, td = tree_flatten(tree)
    return tree_unflatten(td, [_lower(x, trace) for x in leaves])


def _zeros_like(x):
    from .ops.creation import zeros
    return zeros(x.shape, dtype=x.dtype, device=x.device)


# ---------------------------------------------------------------------------------
# jvp


def jvp(func, primals, tangents, *, has_aux=False, strict=False):
    """Forward-mode derivative: ``(func(*primals), J @ tangents)``.

    >>> import gpuad as ad
    >>> out, t = ad.jvp(ad.sin, (ad.tensor([0.0, 1.0]),), (ad.tensor([1.0, 1.0]),))
    >>> t.numpy().round(4).tolist()
    [1.0, 0.5403]
    """
    return _jvp(func, primals, tangents, has_aux, "jvp")


def _jvp(func, primals, tangents, has_aux, fn):
    _check_func(func, fn)
    if not isinstance(primals, (tuple, list)):
        raise GpuadTypeError(f"{fn}: argument 'primals' must be a tuple of tensors, got {type(primals).__name__}")
    if not isinstance(tangents, (tuple, list)):
        raise GpuadTypeError(f"{fn}: argument 'tangents' must be a tuple of tensors, got {type(tangents).__name__}")
    for i, p in enumerate(primals):
        _check_no_numbers(p, fn, f"primals[{i}]")
    p_leaves, p_td = tree_flatten(tuple(primals))
    t_leaves, t_td = tree_flatten(tuple(tangents))
    if p_td != t_td:
        raise GpuadValueError(f"{fn}: arguments 'primals' and 'tangents' must have the same structure, "
                              f"got {p_td} and {t_td}")
    p_leaves = [_diff_leaf(p, fn, f"primals[{i}]") for i, p in enumerate(p_leaves)]
    t_leaves = [_diff_leaf(t, fn, f"tangents[{i}]") for i, t in enumerate(t_leaves)]
    for i, (p, t) in enumerate(zip(p_leaves, t_leaves)):
        if tuple(p.shape) != tuple(t.shape):
            raise GpuadValueError(f"{fn}: tangents[{i}] has shape {tuple(t.shape)}, expected the "
                                  f"primal's shape {tuple(p.shape)}")
        if t.dtype != p.dtype:
            from .ops.pointwise import astype
            t_leaves[i] = astype(t, p.dtype)
    with new_trace(JVPTrace()) as tr:
        tr.transform_name = fn  # named in errors about its tracers
        ins = [JVPTracer(tr, p, t) for p, t in zip(p_leaves, t_leaves)]
        out = func(*tree_unflatten(p_td, ins))
        out, aux = _split_aux(out, has_aux, fn)
        _check_output(out, fn)
        o_leaves, o_td = tree_flatten(out)
        prim_out, tan_out = [], []
        for x in o_leaves:
            x = _out_leaf(x, fn)
            if _owned(x, tr):
                prim_out.append(x.primal)
                tan_out.append(x.tangent if x.tangent is not None else _zeros_like(x.primal))
            else:
                prim_out.append(x)
                tan_out.append(_zeros_like(x))
        aux = _lower_tree(aux, tr) if has_aux else None
    res = (tree_unflatten(o_td, prim_out), tree_unflatten(o_td, tan_out))
    return res + (aux,) if has_aux else res


# ---------------------------------------------------------------------------------
# vjp


def vjp(func, *primals, has_aux=False):
    """Reverse-mode derivative: ``(func(*primals), vjp_fn)``; ``vjp_fn(cotangent)``
    returns one cotangent per primal (a tuple).

    >>> import gpuad as ad
    >>> out, vjp_fn = ad.vjp(lambda x: (x * x).sum(), ad.tensor([1.0, 2.0]))
    >>> vjp_fn(ad.tensor(1.0))[0].tolist()
    [2.0, 4.0]
    """
    _check_func(func, "vjp")
    for i, p in enumerate(primals):
        _check_no_numbers(p, "vjp", f"primals[{i}]")
    return _vjp(func, primals, has_aux, "vjp")


def _vjp(func, primals, has_aux, fn, check_dtype=True):
    p_leaves, p_td = tree_flatten(primals)
    p_leaves = [_diff_leaf(p, fn, f"primals[{i}]") for i, p in enumerate(p_leaves)]
    leaves = [LeafNode(index=i) for i in range(len(p_leaves))]
    with new_trace(ReverseTrace()) as tr:
        tr.transform_name = fn  # named in errors about its tracers
        ins = [ReverseTracer(tr, p, n) for p, n in zip(p_leaves, leaves)]
        out = func(*tree_unflatten(p_td, ins))
        out, aux = _split_aux(out, has_aux, fn)
        _check_output(out, fn)
        o_leaves, o_td = tree_flatten(out)
        prim_out, nodes = [], []
        for x in o_leaves:
            x = _out_leaf(x, fn)
            traced = _owned(x, tr)
            if check_dtype and not traced and x.dtype.kind not in "fc":
                # a comparison or another non-differentiable integer/bool result: torch.func
                # refuses it too (a traced one reaches its cast's rule, which says so)
                raise GpuadTypeError(
                    f"{fn}: every output of the function must be a floating point or complex "
                    f"tensor, got dtype {x.dtype}; differentiate a float value instead (an "
                    "integer or bool result has no derivative)")
            if traced:
                prim_out.append(x.primal)
                nodes.append(x.node)
            else:
                prim_out.append(x)
                nodes.append(None)
        aux = _lower_tree(aux, tr) if has_aux else None

    def vjp_fn(cotangents, *more):
        if more:  # allow vjp_fn(ct1, ct2) for tuple outputs, like torch.func
            cotangents = (cotangents,) + more
        c_leaves, c_td = tree_flatten(cotangents)
        if c_td != o_td and not (len(o_leaves) == 1 and len(c_leaves) == 1):
            raise GpuadValueError(f"vjp_fn: argument 'cotangents' must have the output's structure "
                                  f"{o_td}, got {c_td}")
        cts = []
        for i, (c, p) in enumerate(zip(c_leaves, prim_out)):
            if not isinstance(c, TensorBase):
                from .ops.creation import as_tensor_like
                c = as_tensor_like(c, p, "vjp_fn", "cotangents")
            if tuple(c.shape) != tuple(p.shape):
                raise GpuadValueError(f"vjp_fn: cotangent {i} has shape {tuple(c.shape)}, expected the "
                                      f"output's shape {tuple(p.shape)}")
            cts.append(c)
        got = backprop(nodes, cts)
        res = []
        for leaf, p in zip(leaves, p_leaves):
            g = got.get(id(leaf))
            res.append(_zeros_like(p) if g is None else g[1])
        return tuple(tree_unflatten(p_td, res))

    return (tree_unflatten(o_td, prim_out), vjp_fn) + ((aux,) if has_aux else ())


# ---------------------------------------------------------------------------------
# grad


def _partial(func, args, argnums, kwargs):
    def f(*diff):
        full = list(args)
        for i, a in zip(argnums, diff):
            full[i] = a
        return func(*full, **kwargs)
    return f


def grad_and_value(func, argnums=0, has_aux=False, _name="grad_and_value"):
    """Like :func:`grad` but returns ``(grad, value)`` (``(grad, (value, aux))`` with
    ``has_aux``)."""
    _check_func(func, _name)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        fn = _name
        nums, single = _argnums(argnums, len(args), fn)
        diff = [_check_tree(args[i], fn, i) for i in nums]
        # grad checks its output's dtype itself, more strictly (real floating only)
        res = _vjp(_partial(func, args, nums, kwargs), diff, has_aux, fn, check_dtype=False)
        out, vjp_fn = res[0], res[1]
        if not isinstance(out, TensorBase) or out.ndim != 0:
            shape = getattr(out, "shape", type(out).__name__)
            raise GpuadValueError(f"{fn}: the function must return a scalar (0-d) tensor, got "
                                  f"{'shape ' + str(tuple(shape)) if not isinstance(shape, str) else shape}")
        if out.dtype.kind != "f":
            # as JAX: grad is defined for real floating outputs only (use vjp / jacrev
            # for complex outputs; int and bool outputs are not differentiable)
            raise GpuadTypeError(f"{fn}: the function must return a real floating point scalar, "
                                 f"got dtype {out.dtype}; for complex outputs use ad.vjp or "
                                 "ad.jacrev (or differentiate ad.real / ad.abs of it)")
        from .ops.creation import ones_like
        g = vjp_fn(ones_like(out))
        g = g[0] if single else tuple(g)
        return (g, (out, res[2])) if has_aux else (g, out)
    return wrapper


def grad(func, argnums=0, has_aux=False):
    """Gradient of a scalar-valued ``func`` with respect to ``argnums``.

    >>> import gpuad as ad
    >>> ad.grad(lambda x: (x ** 3).sum())(ad.tensor([1.0, 2.0])).tolist()
    [3.0, 12.0]
    """
    _check_func(func, "grad")
    gv = grad_and_value(func, argnums, has_aux, _name="grad")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        g, v = gv(*args, **kwargs)
        return (g, v[1]) if has_aux else g
    return wrapper


def _check_tree(arg, fn, i):
    leaves, td = tree_flatten(arg)
    if not leaves:
        raise GpuadTypeError(f"{fn}: argument {i} (selected by argnums) holds no tensors")
    _check_no_numbers(arg, fn, f"argument {i} (selected by argnums)")
    leaves = [_diff_leaf(x, fn, f"argument {i} (selected by argnums)") for x in leaves]
    return tree_unflatten(td, leaves)


# ---------------------------------------------------------------------------------
# Jacobians


def _basis_pieces(n, leaves, dtype, device):
    """Rows of eye(n) split per leaf, each reshaped to (n, *leaf.shape)."""
    from .ops.creation import eye
    from .ops.indexing import slice_axis
    from .ops.shape import reshape
    e = eye(n, dtype=dtype, device=device)
    out, off = [], 0
    for x in leaves:
        s = x.size
        piece = e if (off == 0 and s == n) else slice_axis(e, 1, off, off + s)
        out.append(reshape(piece, (n,) + tuple(x.shape)))
        off += s
    return out


def _assemble(rows, out_leaf, in_leaves):
    """Split jacfwd's (n_in, *out.shape) stack of tangents into one Jacobian block of
    shape (*out.shape, *in_i.shape) per input leaf."""
    from .ops.indexing import slice_axis
    from .ops.shape import moveaxis, reshape
    blocks, off = [], 0
    n = rows.shape[0]
    oshape = tuple(out_leaf.shape)
    for x in in_leaves:
        s = x.size
        piece = rows if (off == 0 and s == n) else slice_axis(rows, 0, off, off + s)
        off += s
        blk = moveaxis(piece, 0, -1) if piece.ndim > 1 else piece
        blocks.append(reshape(blk, oshape + tuple(x.shape)))
    return blocks


def _dtype_of(leaves):
    return np.result_type(*[x.dtype for x in leaves])


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error", chunk_size=None, _name="jacfwd"):
    """Jacobian by forward mode: ``vmap(jvp)`` over the standard basis of the inputs.

    >>> import gpuad as ad
    >>> x = ad.tensor([0.0, 1.0, 2.0])
    >>> J = ad.jacfwd(ad.sin)(x)
    >>> J.shape
    (3, 3)
    """
    _check_func(func, _name)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        fn = _name
        nums, single = _argnums(argnums, len(args), fn)
        diff = [_check_tree(args[i], fn, i) for i in nums]
        flat, td = tree_flatten(tuple(diff))
        n = sum(x.size for x in flat)
        f = _partial(func, args, nums, kwargs)
        holder = {}

        def push(*t_leaves):
            tangents = tree_unflatten(td, list(t_leaves))
            res = _jvp(f, tuple(diff), tuple(tangents), has_aux, fn)
            return (res[1], res[0], res[2]) if has_aux else (res[1], res[0])

        basis = _basis_pieces(n, flat, _dtype_of(flat), flat[0].device)
        out_dims = (0, None, None) if has_aux else (0, None)
        res = vmap(push, in_dims=0, out_dims=out_dims, randomness=randomness,
                   chunk_size=chunk_size)(*basis)
        touts, outs = res[0], res[1]
        t_leaves, o_td = tree_flatten(touts)
        o_leaves, _ = tree_flatten(outs)
        jac_leaves = []
        for tl, ol in zip(t_leaves, o_leaves):
            blocks = _assemble(tl, ol, flat)
            per_arg = tree_unflatten(td, blocks)
            jac_leaves.append(per_arg[0] if single else tuple(per_arg))
        jac = tree_unflatten(o_td, jac_leaves)
        return (jac, res[2]) if has_aux else jac
    return wrapper


def jacrev(func, argnums=0, has_aux=False, *, chunk_size=None, _name="jacrev"):
    """Jacobian by reverse mode: ``vmap(vjp_fn)`` over the standard basis of the outputs.

    >>> import gpuad as ad
    >>> x = ad.tensor([0.0, 1.0])
    >>> ad.jacrev(lambda x: x * x)(x).tolist()
    [[0.0, 0.0], [0.0, 2.0]]
    """
    _check_func(func, _name)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        fn = _name
        nums, single = _argnums(argnums, len(args), fn)
        diff = [_check_tree(args[i], fn, i) for i in nums]
        flat, td = tree_flatten(tuple(diff))
        res = _vjp(_partial(func, args, nums, kwargs), diff, has_aux, fn)
        out, vjp_fn = res[0], res[1]
        o_leaves, o_td = tree_flatten(out)
        o_leaves = [_out_leaf(o, fn) for o in o_leaves]
        if not o_leaves:  # nothing to differentiate: an empty Jacobian tree, as jacfwd gives
            jac = tree_unflatten(o_td, [])
            return (jac, res[2]) if has_aux else jac
        m = sum(o.size for o in o_leaves)
        basis = _basis_pieces(m, o_leaves, _dtype_of(o_leaves), o_leaves[0].device)

        def pull(*c_leaves):
            cts = vjp_fn(tree_unflatten(o_td, list(c_leaves)))
            return tree_flatten(cts)[0]

        rows = vmap(pull, chunk_size=chunk_size)(*basis)  # per input leaf: (m, *in.shape)
        from .ops.indexing import slice_axis
        from .ops.shape import reshape
        jac_leaves, off = [], 0
        for o in o_leaves:
            s = o.size
            blocks = []
            for r, x in zip(rows, flat):
                piece = r if (off == 0 and s == m) else slice_axis(r, 0, off, off + s)
                blocks.append(reshape(piece, tuple(o.shape) + tuple(x.shape)))
            off += s
            per_arg = tree_unflatten(td, blocks)
            jac_leaves.append(per_arg[0] if single else tuple(per_arg))
        jac = tree_unflatten(o_td, jac_leaves)
        return (jac, res[2]) if has_aux else jac
    return wrapper


def hessian(func, argnums=0, *, chunk_size=None):
    """``jacfwd(jacrev(func, argnums), argnums)``: forward-over-reverse.

    >>> import gpuad as ad
    >>> ad.hessian(lambda x: (x ** 3).sum())(ad.tensor([1.0, 2.0])).tolist()
    [[6.0, 0.0], [0.0, 12.0]]
    """
    _check_func(func, "hessian")
    inner = jacfwd(jacrev(func, argnums, chunk_size=chunk_size, _name="hessian"), argnums,
                   chunk_size=chunk_size, _name="hessian")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        nums, _ = _argnums(argnums, len(args), "hessian")
        for i in nums:
            _check_tree(args[i], "hessian", i)
        return inner(*args, **kwargs)
    return wrapper


# ---------------------------------------------------------------------------------
# vmap


def _broadcast_prefix(dims, tree, fn, what):
    """Expand an in_dims/out_dims prefix tree to one entry per leaf of ``tree``."""
    if dims is None or isinstance(dims, numbers.Integral):
        return [dims] * len(tree_flatten(tree)[0])
    if isinstance(dims, (tuple, list, dict)):
        if isinstance(dims, dict):
            if not isinstance(tree, dict) or set(dims) != set(tree):
                raise GpuadValueError(f"{fn}: {what} {dims!r} does not match the structure of its value")
            out = []
            for k in tree:
                out += _broadcast_prefix(dims[k], tree[k], fn, what)
            return out
        if not isinstance(tree, (tuple, list)) or len(tree) != len(dims):
            raise GpuadValueError(f"{fn}: {what} {dims!r} does not match the structure of its value "
                                  f"({type(tree).__name__} of length {len(tree) if hasattr(tree, '__len__') else '?'})")
        out = []
        for d, t in zip(dims, tree):
            out += _broadcast_prefix(d, t, fn, what)
        return out
    raise GpuadTypeError(f"{fn}: {what} must be an int, None, or a tuple/list/dict of them, got {dims!r}")


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """Vectorize ``func`` over a batch dimension of its inputs.

    >>> import gpuad as ad
    >>> x = ad.ones(4, 3)
    >>> ad.vmap(lambda r: r.sum())(x).tolist()
    [3.0, 3.0, 3.0, 3.0]
    """
    _check_func(func, "vmap")
    if randomness not in ("error", "different", "same"):
        raise GpuadValueError(f"vmap: argument 'randomness' must be 'error', 'different' or 'same', "
                              f"got {randomness!r}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise GpuadValueError(f"vmap: argument 'chunk_size' must be a positive int or None, got {chunk_size!r}")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        fn = "vmap"
        if isinstance(in_dims, (tuple, list)) and not isinstance(in_dims, list) and len(in_dims) != len(args):
            raise GpuadValueError(f"vmap: argument 'in_dims' has {len(in_dims)} entries but the function "
                                  f"was called with {len(args)} positional arguments")
        dims_tree = in_dims if not isinstance(in_dims, list) else tuple(in_dims)
        leaves, td = tree_flatten(args)
        dims = _broadcast_prefix(dims_tree, args, fn, "argument 'in_dims'")
        size = None
        norm = []
        for i, (x, d) in enumerate(zip(leaves, dims)):
            if d is None:
                norm.append(None)
                continue
            if not isinstance(d, numbers.Integral) or isinstance(d, bool):
                raise GpuadTypeError(f"vmap: argument 'in_dims' entries must be ints or None, got {d!r}")
            if not isinstance(x, TensorBase):
                if isinstance(x, (np.ndarray,)) or hasattr(x, "__dlpack__"):
                    from .ops.creation import tensor
                    x = tensor(x)
                    leaves[i] = x
                else:
                    raise GpuadValueError(f"vmap: in_dims={d} was given for an input of type "
                                          f"{type(x).__name__}; only tensors can be batched (use None)")
            nd = x.ndim
            if nd == 0:
                raise GpuadValueError(f"vmap: in_dims={d} for a 0-d input: a 0-d tensor has no dimension "
                                      "to map over (use in_dims=None for it)")
            if not -nd <= d < nd:
                raise GpuadValueError(f"vmap: in_dims={d} is out of range for an input with {nd} dims "
                                      f"(shape {tuple(x.shape)})")
            d = int(d) % nd
            n = x.shape[d]
            if size is None:
                size = n
            elif n != size:
                raise GpuadValueError(f"vmap: expected all batched inputs to have the same size along "
                                      f"their in_dims, got sizes {size} and {n} (input shape {tuple(x.shape)})")
            norm.append(d)
        if size is None:
            raise GpuadValueError("vmap: at least one input must be batched (in_dims are all None or "
                                  "there are no tensor inputs)")
        if chunk_size is not None and size > chunk_size:
            return _vmap_chunked(func, leaves, td, norm, size, kwargs)
        return _vmap_once(func, leaves, td, norm, size, kwargs)

    # NOTE [row-polymorphic plans] (gpuad/jit/plan.py): ad.jit of this very function may
    # trace it at a few rows for a call of many. The wrapper names itself, since
    # functools.wraps copies the attribute onto whatever wraps it.
    if (type(in_dims) is int and in_dims == 0 or isinstance(in_dims, (tuple, list)) and in_dims and
            all(type(d) is int and d == 0 for d in in_dims)) and \
            type(out_dims) is int and out_dims == 0 and chunk_size is None:
        wrapper._gpuad_vmap = wrapper

    def _vmap_once(func, leaves, td, dims, size, kwargs):
        from .ops.shape import broadcast_to, expand_dims, moveaxis
        with new_trace(BatchTrace(size, randomness)) as tr:
            tr.transform_name = "vmap"
            ins = [x if d is None else BatchTracer(tr, x, d) for x, d in zip(leaves, dims)]
            out = func(*tree_unflatten(td, ins), **kwargs)
            if out is None:  # torch.func raises too (a ValueError)
                raise GpuadValueError("vmap: the function returned None; it must return a "
                                      "tensor or a pytree (tuple, list, dict) of tensors")
            o_leaves, o_td = tree_flatten(out)
            od = _broadcast_prefix(out_dims, out, "vmap", "argument 'out_dims'")
            res = []
            for x, d in zip(o_leaves, od):
                batched = _owned(x, tr)
                if d is None:
                    if batched and x.bdim is not None:
                        raise GpuadValueError("vmap: out_dims=None for an output that depends on the "
                                              "batched inputs; give it an int out_dim")
                    res.append(x.val if batched else x)
                    continue
                x = _out_leaf(x, "vmap")
                if batched:
                    v = x.val
                    nd = v.ndim
                    if not -nd <= d < nd:
                        raise GpuadValueError(f"vmap: out_dims={d} is out of range for an output with "
                                              f"{nd - 1} dims (valid: {-nd} to {nd - 1})")
                    dd = int(d) % nd
                    res.append(moveaxis(v, x.bdim, dd) if x.bdim != dd else v)
                else:
                    nd = x.ndim + 1
                    if not -nd <= d < nd:
                        raise GpuadValueError(f"vmap: out_dims={d} is out of range for an output with "
                                              f"{nd - 1} dims")
                    dd = int(d) % nd
                    e = expand_dims(x, dd)
                    shape = list(e.shape)
                    shape[dd] = size
                    res.append(broadcast_to(e, tuple(shape)))
        return tree_unflatten(o_td, res)

    def _vmap_chunked(func, leaves, td, dims, size, kwargs):
        from .ops.indexing import slice_axis
        from .ops.shape import concat
        from .ops import random as _random
        chunks = []
        # NOTE [randomness under vmap]: "same" means one draw for the whole batch, so
        # every chunk replays the generator state the first chunk started from.
        snap = _random.snapshot() if randomness == "same" else None
        for start in range(0, size, chunk_size):
            if snap is not None:
                # generators created during the first chunk are replayed from their seed
                if start:
                    _random.restore(snap)
            stop = min(start + chunk_size, size)
            part = [x if d is None else slice_axis(x, d, start, stop) for x, d in zip(leaves, dims)]
            chunks.append(_vmap_once(func, part, td, dims, stop - start, kwargs))
        first, o_td = tree_flatten(chunks[0])
        per = [tree_flatten(c)[0] for c in chunks]
        od = _broadcast_prefix(out_dims, chunks[0], "vmap", "argument 'out_dims'")
        res = []
        for j, d in enumerate(od):
            if d is None:
                res.append(first[j])
            else:
                dd = int(d) % first[j].ndim
                res.append(concat([p[j] for p in per], axis=dd))
        return tree_unflatten(o_td, res)

    return wrapper
