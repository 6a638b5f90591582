"""The reverse tape: the nodes that the eager tape and ``vjp``'s reverse trace record
alike, and their order. The backward pass over them is reverse mode's
(``gpuad.interpreters.backprop``).

A node keeps what its VJP rule needs (the primitive, its inputs, its output and
params); the backward pass visits nodes in reverse topological order, calls each rule
once with the summed cotangent, and hands leaf cotangents back. Cotangents may be
tracers of enclosing transforms (a batch of basis vectors under ``jacrev``), so the
whole backward pass is one batched computation.
"""
from __future__ import annotations

import weakref

from .errors import GpuadRuntimeError


class Node:
    __slots__ = ("prim", "args", "params", "out", "parents", "__weakref__")

    def __init__(self, prim, args, params, out, parents):
        self.prim = prim
        self.args = args
        self.params = params
        self.out = out
        self.parents = parents

    def vjp(self, ct):
        if self.args is None:
            raise GpuadRuntimeError(
                "backward: trying to backward through the graph a second time; its saved "
                "values were freed after the first backward (pass retain_graph=True)")
        prim = self.prim
        if prim.vjp_takes_needs:
            needs = tuple(p is not None for p in self.parents)
            return prim.vjp(ct, self.out, *self.args, needs=needs, **self.params)
        return prim.vjp(ct, self.out, *self.args, **self.params)

    def release(self):
        self.args = None
        self.out = None


class LeafNode:
    """The node of an input: where cotangents are collected."""

    __slots__ = ("tensor_ref", "index", "__weakref__")
    parents = ()

    def __init__(self, tensor=None, index=None):
        self.tensor_ref = weakref.ref(tensor) if tensor is not None else None
        self.index = index


class CustomNode(Node):
    """A node whose VJP is a closure (custom_vjp, custom_jvp transposed)."""

    __slots__ = ("fn",)

    def __init__(self, fn, parents):
        self.fn = fn
        self.parents = parents
        self.args = ()

    def vjp(self, ct):
        if self.fn is None:
            raise GpuadRuntimeError(
                "backward: trying to backward through the graph a second time")
        return self.fn(ct)

    def release(self):
        self.fn = None


def toposort(roots):
    """Nodes reachable from ``roots``, each after every node that consumes it."""
    order, seen = [], set()
    stack = [(r, False) for r in roots if r is not None]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for p in node.parents:
            if p is not None and id(p) not in seen:
                stack.append((p, False))
    order.reverse()  # consumers first
    return order
