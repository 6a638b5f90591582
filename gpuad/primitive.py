"""The primitive registry: one object per primitive holding its impl, JVP rule,
VJP rule, batching rule and (for pointwise ops) the scalar kernel expression.

Rules are written in gpuad ops, so they are themselves differentiable and
batchable; that is what makes ``jacfwd(jacrev(f))`` and ``vmap(jacrev(f))`` work
with no special cases.
"""
from __future__ import annotations

from . import core

# name -> primitive: for listing every primitive (tests, tools) and refusing a second
# registration of one name; no rule is looked up through it
registry: dict[str, "Primitive"] = {}

# the row behaviours of ``Primitive.rows`` that are not a rule
ELEMENTWISE = "elementwise"
BROADCAST = "broadcast"


class Primitive:
    """A primitive operation.

    impl(backend, *arrays, **params) -> array
    jvp(primals, tangents, **params) -> (out, tangent_out); tangents may be None
        (symbolic zero); tangent_out may be None.
    vjp(ct, out, *primals, **params) -> tuple of cotangents (None = zero), one per input
    batch(vals, dims, **params) -> (out, out_dim); dims entries are int or None
    rows: how ``ad.jit``'s row analysis reads it (NOTE [row tiles], gpuad/jit/rows.py):
        None: it may mix the rows of its inputs' axis 0 (the plan then runs untiled);
        ELEMENTWISE: each output element reads its inputs at the same (broadcast)
            position; the default of a primitive with a kernel expression;
        BROADCAST: elementwise, and broadcasting a row-free input to a leading axis of
            ``n`` makes a value of ``n`` equal rows (``broadcast_to``);
        rule(ins, out, r, n, params) -> True or None: ``ins`` the input shapes, ``out``
            the output shape (its axis 0 is ``n`` long), ``r`` which inputs carry the
            rows (at least one does); True when the output's axis 0 carries them and
            no two rows meet.

    Rules are found through the object (``prim.jvp``, ``prim.numpy``, or a table keyed by
    the primitive in the module that needs one), never by comparing ``name``: the name is
    for display (errors, launch records, reprs). ``tests/test_rules_by_object.py`` checks it.
    """

    __slots__ = ("name", "impl", "jvp", "vjp", "batch", "expr", "differentiable",
                 "kernel", "nondiff_args", "vjp_takes_needs", "numpy", "quiet", "rows",
                 "__weakref__")

    def __init__(self, name, impl, *, differentiable=True, kernel=True, expr=None,
                 nondiff_args=(), numpy=None, quiet=False):
        if name in registry:
            raise ValueError(f"primitive {name!r} registered twice")
        self.name = name
        self.impl = impl
        self.jvp = None
        self.vjp = None
        self.batch = None
        self.expr = expr
        self.differentiable = differentiable
        self.kernel = kernel          # False for pure views (no launch)
        self.nondiff_args = frozenset(nondiff_args)  # e.g. index arrays, conditions
        # when True, vjp also gets ``needs=`` (a tuple of bools: which inputs are tracked),
        # so it never computes cotangents for constants (a weight captured by a jacrev'd
        # function would otherwise get a per-example cotangent that is thrown away)
        self.vjp_takes_needs = False
        # the NumPy function it maps to (pointwise: a ufunc or a function of the same
        # arrays; reductions: np.sum and friends), which the eager cpu backend calls; None
        # when there is none (then the kernel expression, compiled by Numba). Backends get
        # it from the impl (they sit below this registry and never look a rule up by name).
        self.numpy = numpy
        # True when ``numpy`` raises no floating-point warnings worth silencing, so the cpu
        # backend skips np.errstate (it costs about 1 us an op)
        self.quiet = quiet
        self.rows = ELEMENTWISE if expr is not None else None
        registry[name] = self

    def bind(self, *args, **params):
        return core.bind(self, args, params)

    def __repr__(self):
        return f"Primitive({self.name})"
