"""The physics workloads of DESIGN.md ("Performance contract").

Each module writes its function once per library (``gpuad_fn(ad, device)``,
``torch_fn(torch, device)``, ``jax_fn(jnp)``: per-point functions, batched by ``vmap`` in the
harness), an input generator ``make_input(batch, seed)`` (float64 NumPy), the methods it is
timed with (``METHODS``: transforms of the per-point function) and a batched analytic NumPy
reference ``numpy_reference(method, X)``. ``forms`` writes them other common ways, each a
workload of its own (``kinetics[gather]``) checked against the same reference.
"""
from . import kinetics, mlp_pinn, neohookean, pointwise
from .forms import FORMS

WORKLOADS = {m.NAME: m for m in (pointwise, kinetics, neohookean, mlp_pinn, *FORMS)}

__all__ = ["WORKLOADS", "pointwise", "kinetics", "neohookean", "mlp_pinn", "FORMS"]
