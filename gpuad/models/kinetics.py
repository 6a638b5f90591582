"""Mass-action chemical kinetics: ``dy/dt = S^T r(y)``, ``r_j = k_j prod_s y_s^{nu_js}``.

A random network of ``n_species`` species and ``n_reactions`` reactions, each with
one or two reactants (fixed seed). The right-hand side is written once in gpuad ops;
``analytic_jacobian`` is the hand-derived Jacobian used to check gpuad's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Network:
    reactants: np.ndarray   # (R, 2) species index; n_species means "no second reactant"
    stoich: np.ndarray      # (R, S) net stoichiometry (products - reactants)
    rates: np.ndarray       # (R,) rate constants

    @property
    def n_species(self):
        return self.stoich.shape[1]


def random_network(n_species=20, n_reactions=60, seed=0) -> Network:
    rng = np.random.default_rng(seed)
    reac = np.full((n_reactions, 2), n_species, dtype=np.int64)
    stoich = np.zeros((n_reactions, n_species))
    for j in range(n_reactions):
        k = rng.integers(1, 3)
        r = rng.choice(n_species, size=k, replace=True)
        reac[j, :k] = r
        p = rng.choice(n_species, size=rng.integers(1, 3), replace=True)
        np.add.at(stoich[j], r, -1.0)
        np.add.at(stoich[j], p, 1.0)
    rates = rng.uniform(0.1, 2.0, size=n_reactions)
    return Network(reac, stoich, rates)


def make_rhs(net: Network, ad, device=None):
    """The right-hand side ``f(y) -> dy/dt`` for one cell, in gpuad ops."""
    i0 = ad.tensor(net.reactants[:, 0], device=device)
    i1 = ad.tensor(net.reactants[:, 1], device=device)
    k = ad.tensor(net.rates, device=device)
    st = ad.tensor(net.stoich, device=device)

    def rhs(y):
        # one padded "species" fixed at 1 stands in for a missing second reactant
        y1 = ad.concat([y, ad.ones(1, dtype=y.dtype, device=y.device)])
        r = k * ad.take(y1, i0) * ad.take(y1, i1)
        return r @ st

    return rhs


def analytic_jacobian(net: Network, y: np.ndarray) -> np.ndarray:
    """d(dy/dt)/dy for a batch ``y`` of shape (B, S): shape (B, S, S)."""
    B, S = y.shape
    y1 = np.concatenate([y, np.ones((B, 1))], axis=1)
    i0, i1 = net.reactants[:, 0], net.reactants[:, 1]
    dr = np.zeros((B, len(net.rates), S + 1))
    rows = np.arange(len(net.rates))
    np.add.at(dr, (slice(None), rows, i0), net.rates * y1[:, i1])
    np.add.at(dr, (slice(None), rows, i1), net.rates * y1[:, i0])
    return np.einsum("rs,brt->bst", net.stoich, dr[:, :, :S])
