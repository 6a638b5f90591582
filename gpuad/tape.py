"""The reverse tape: nodes, and the backward pass shared by the eager tape and by
``vjp`` (whose reverse trace records the same nodes).

A node keeps what its VJP rule needs (the primitive, its inputs, its output and
params); ``backprop`` visits nodes in reverse topological order, calls each rule
once with the summed cotangent, and hands leaf cotangents back. Cotangents may be
tracers of enclosing transforms (a batch of basis vectors under ``jacrev``), so the
whole backward pass is one batched computation.
"""
from __future__ import annotations

import weakref

from .errors import GpuadRuntimeError, GpuadValueError


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


def backprop(roots, cts, release=False):
    """Returns {id(leaf): (leaf, cotangent)} for the leaves reached from roots."""
    from .ops.pointwise import add

    grads = {}
    for r, c in zip(roots, cts):
        if r is None or c is None:
            continue
        k = id(r)
        grads[k] = c if k not in grads else add(grads[k], c)
    leaves = {}
    for node in toposort(roots):
        g = grads.pop(id(node), None)
        if isinstance(node, LeafNode):
            if g is not None:
                leaves[id(node)] = (node, g)
            continue
        if g is None:
            continue
        in_cts = node.vjp(g)
        if release:
            node.release()
        for p, c in zip(node.parents, in_cts):
            if p is None or c is None:
                continue
            k = id(p)
            grads[k] = c if k not in grads else add(grads[k], c)
    return leaves


def eager_backward(tensor, grad=None, retain_graph=False, create_graph=False):
    from . import core
    from .ops.creation import ones_like, as_tensor_like
    from .ops.pointwise import add

    if not tensor.requires_grad or tensor._node is None:
        raise GpuadRuntimeError(
            "backward: element 0 of tensors does not require grad and does not have a "
            "grad_fn; create the inputs with requires_grad=True")
    if grad is None:
        if tensor.size != 1:
            raise GpuadRuntimeError(
                f"backward: argument 'grad' must be given for a non-scalar output "
                f"(shape {tensor.shape}); grad can be implicitly created only for scalar outputs")
        grad = ones_like(tensor)
    else:
        grad = as_tensor_like(grad, tensor, "backward", "grad")
        if grad.shape != tensor.shape:
            raise GpuadValueError(
                f"backward: argument 'grad' must have the output's shape {tensor.shape}, "
                f"got {grad.shape}")
    if create_graph:
        leaves = backprop([tensor._node], [grad], release=not retain_graph)
    else:
        with core.no_grad():
            leaves = backprop([tensor._node], [grad], release=not retain_graph)
    for node, g in leaves.values():
        t = node.tensor_ref() if node.tensor_ref is not None else None
        if t is None:
            continue
        if not create_graph:
            g = g.detach() if hasattr(g, "detach") else g
        if t.grad is None:
            t.grad = g
        else:
            if create_graph:
                t.grad = add(t.grad, g)
            else:
                with core.no_grad():
                    t.grad = add(t.grad, g)
