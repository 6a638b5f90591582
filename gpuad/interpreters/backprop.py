"""The backward pass over the reverse tape (``gpuad.tape``), shared by the eager tape
(``Tensor.backward``, installed here) and by ``vjp``'s reverse trace."""
from __future__ import annotations

from .. import core
from ..errors import GpuadRuntimeError, GpuadValueError
from ..ops.creation import as_tensor_like, ones_like
from ..ops.pointwise import add
from ..tape import LeafNode, toposort
from ..tensor import Tensor


def backprop(roots, cts, release=False):
    """Returns {id(leaf): (leaf, cotangent)} for the leaves reached from roots."""

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


def _backward(self, grad=None, *, retain_graph=False, create_graph=False):
    """Accumulate the gradient of this tensor into ``.grad`` of the leaves that require
    grad (torch's ``Tensor.backward``)."""
    eager_backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)


Tensor.backward = _backward
