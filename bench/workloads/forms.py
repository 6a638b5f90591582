"""The workloads written other ways, as people commonly write them in NumPy, JAX and torch
code: each form is a workload of its own (``kinetics[gather]``), with its base workload's
inputs, methods and analytic reference, so every row checks the same Jacobian.

* ``kinetics[gather]``: mass action with a gather of the reactants and a product,
  ``k * prod(yp[ridx], -1)``, a padding species of value 1 filling the second slot of
  one-reactant reactions (the usual vectorised form of a rate law);
* ``kinetics[power]``: ``k * prod(y[:, None] ** R, 0)``, the stoichiometric powers;
* ``neohookean[det]``: J from ``linalg.det`` (torch.func gets the cofactor expansion:
  ``vmap(jacfwd(torch.linalg.det))`` is wrong in torch 2.13, see docs/performance.md);
* ``mlp_pinn[rowvec]``: the layers written for row vectors, ``x @ W.T + b``, as batched
  network code writes them.
"""
from __future__ import annotations

import types

import numpy as np

from . import kinetics, mlp_pinn, neohookean


def _form(base, form, title, gpuad_fn, torch_fn, jax_fn):
    return types.SimpleNamespace(
        NAME=f"{base.NAME}[{form}]", TITLE=title, METHODS=base.METHODS,
        make_input=base.make_input, numpy_reference=base.numpy_reference,
        gpuad_fn=gpuad_fn, torch_fn=torch_fn, jax_fn=jax_fn, __doc__=__doc__)


# -- kinetics --------------------------------------------------------------------------------
def _reactant_index():
    """(60, 2) species index of each reaction's reactants; 20 (the padding species) fills
    the second slot of one-reactant reactions."""
    R = kinetics._R.astype(int)
    ridx = np.full((kinetics.REACTIONS, 2), kinetics.SPECIES)
    for j in range(kinetics.REACTIONS):
        sp = np.repeat(np.arange(kinetics.SPECIES), R[:, j])
        ridx[j, :len(sp)] = sp
    return ridx


_RIDX = _reactant_index()


def _gather_gpuad(ad, device=None):
    N, k = (ad.tensor(a, device=device) for a in (kinetics._N, kinetics._K))
    ridx = ad.tensor(_RIDX, device=device)

    def rhs(y):
        yp = ad.concat([y, ad.ones((1,), dtype=y.dtype, device=device)])
        return N @ (k * ad.prod(yp[ridx], axis=-1))
    return rhs


def _gather_torch(torch, device=None):
    N, k = (torch.tensor(a, dtype=torch.float64, device=device) for a in (kinetics._N, kinetics._K))
    ridx = torch.tensor(_RIDX, device=device)

    def rhs(y):
        yp = torch.cat([y, torch.ones((1,), dtype=y.dtype, device=y.device)])
        return N @ (k * torch.prod(yp[ridx], dim=-1))
    return rhs


def _gather_jax(jnp):
    N, k, ridx = (jnp.asarray(a) for a in (kinetics._N, kinetics._K, _RIDX))

    def rhs(y):
        yp = jnp.concatenate([y, jnp.ones((1,), dtype=y.dtype)])
        return N @ (k * jnp.prod(yp[ridx], axis=-1))
    return rhs


def _power_gpuad(ad, device=None):
    N, R, k = (ad.tensor(a, device=device) for a in (kinetics._N, kinetics._R, kinetics._K))

    def rhs(y):
        return N @ (k * ad.prod(y[:, None] ** R, axis=0))
    return rhs


def _power_torch(torch, device=None):
    N, R, k = (torch.tensor(a, dtype=torch.float64, device=device)
               for a in (kinetics._N, kinetics._R, kinetics._K))

    def rhs(y):
        return N @ (k * torch.prod(y[:, None] ** R, dim=0))
    return rhs


def _power_jax(jnp):
    N, R, k = (jnp.asarray(a) for a in (kinetics._N, kinetics._R, kinetics._K))

    def rhs(y):
        return N @ (k * jnp.prod(y[:, None] ** R, axis=0))
    return rhs


# -- neo-Hookean -----------------------------------------------------------------------------
def _energy(log, det, total):
    mu, lam = neohookean.MU, neohookean.LAM

    def energy(F):
        lnJ = log(det(F))
        return 0.5 * mu * (total(F * F) - 3.0) - mu * lnJ + 0.5 * lam * lnJ * lnJ
    return energy


def _det_gpuad(ad, device=None):
    return _energy(ad.log, ad.linalg.det, ad.sum)


def _det_torch(torch, device=None):
    return _energy(torch.log, neohookean.det3, torch.sum)  # see the module docstring


def _det_jax(jnp):
    return _energy(jnp.log, jnp.linalg.det, jnp.sum)


# -- MLP -------------------------------------------------------------------------------------
def _rowvec(xp_tanh, xp_sum, convert):
    W1, b1, W2, b2, w3 = (convert(a) for a in (mlp_pinn._W1, mlp_pinn._B1, mlp_pinn._W2,
                                                mlp_pinn._B2, mlp_pinn._W3))
    W1t, W2t = W1.T, W2.T

    def u(x):
        h = xp_tanh(x @ W1t + b1)
        h = xp_tanh(h @ W2t + b2)
        return xp_sum(h * w3) + mlp_pinn._B3
    return u


def _rowvec_gpuad(ad, device=None):
    return _rowvec(ad.tanh, ad.sum, lambda a: ad.tensor(a, device=device))


def _rowvec_torch(torch, device=None):
    return _rowvec(torch.tanh, torch.sum,
                   lambda a: torch.tensor(a, dtype=torch.float64, device=device))


def _rowvec_jax(jnp):
    return _rowvec(jnp.tanh, jnp.sum, jnp.asarray)


FORMS = (
    _form(kinetics, "gather", "mass action as k * prod(y[ridx], -1), then N @ r",
          _gather_gpuad, _gather_torch, _gather_jax),
    _form(kinetics, "power", "mass action as k * prod(y[:, None] ** R, 0), then N @ r",
          _power_gpuad, _power_torch, _power_jax),
    _form(neohookean, "det", "neo-Hookean W(F) with J = linalg.det(F)",
          _det_gpuad, _det_torch, _det_jax),
    _form(mlp_pinn, "rowvec", "2-32-32-1 tanh MLP written for row vectors: x @ W.T + b",
          _rowvec_gpuad, _rowvec_torch, _rowvec_jax),
)
