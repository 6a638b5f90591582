"""Minimal pytrees: tuples, lists, dicts (and namedtuples) of leaves. ``None`` is an
empty node, as in torch.utils._pytree."""
from __future__ import annotations


class TreeDef:
    __slots__ = ("kind", "meta", "children")

    def __init__(self, kind, meta, children):
        self.kind = kind          # "leaf" | "tuple" | "list" | "dict" | "none" | "namedtuple"
        self.meta = meta
        self.children = children

    @property
    def num_leaves(self):
        if self.kind == "leaf":
            return 1
        return sum(c.num_leaves for c in self.children)

    def __eq__(self, other):
        return (isinstance(other, TreeDef) and self.kind == other.kind and self.meta == other.meta
                and self.children == other.children)

    def __hash__(self):  # a cache key (``jit``): the structure with dict keys and types
        return hash((self.kind, self.meta, self.children))

    def __repr__(self):
        if self.kind == "leaf":
            return "*"
        if self.kind == "dict":
            inner = ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.meta[1], self.children))
            return f"dict({inner})"
        return f"{self.kind}({', '.join(map(repr, self.children))})"


LEAF = TreeDef("leaf", None, ())


# NOTE [pytree recursion]: the recursive helpers are module functions, not closures.
# A nested function that calls itself sits in a reference cycle with its closure
# cell, which would keep the leaves (a jitted function's results, a transform's
# inputs) alive until the garbage collector runs, instead of until the caller drops
# them.
def _flatten(x, leaves):
    if x is None:
        return TreeDef("none", None, ())
    t = type(x)
    if t is tuple or t is list:
        return TreeDef(t.__name__, None, tuple(_flatten(c, leaves) for c in x))
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return TreeDef("namedtuple", t, tuple(_flatten(c, leaves) for c in x))
    if isinstance(x, dict):
        keys = tuple(x.keys())
        return TreeDef("dict", (t, keys), tuple(_flatten(x[k], leaves) for k in keys))
    leaves.append(x)
    return LEAF


def tree_flatten(tree):
    leaves = []
    td = _flatten(tree, leaves)
    return leaves, td


def _unflatten(td, it):
    k = td.kind
    if k == "leaf":
        return next(it)
    if k == "none":
        return None
    kids = [_unflatten(c, it) for c in td.children]
    if k == "tuple":
        return tuple(kids)
    if k == "list":
        return kids
    if k == "namedtuple":
        return td.meta(*kids)
    t, keys = td.meta
    d = dict(zip(keys, kids))
    return d if t is dict else t(d)


def tree_unflatten(treedef, leaves):
    return _unflatten(treedef, iter(leaves))


def tree_map(fn, tree, *rest):
    leaves, td = tree_flatten(tree)
    others = [tree_flatten(r)[0] for r in rest]
    return tree_unflatten(td, [fn(x, *[o[i] for o in others]) for i, x in enumerate(leaves)])


def tree_leaves(tree):
    return tree_flatten(tree)[0]
