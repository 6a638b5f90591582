"""``kinetics``: right-hand side of a mass-action chemical network, 20 species, 60 reactions.

Each reaction j has 1 or 2 reactants and 1 or 2 products drawn with a fixed seed, and a rate
constant k_j. With R the reactant stoichiometry (species x reactions, entries 0, 1 or 2) and
N = P - R the net stoichiometry, mass action reads

    r_j = k_j prod_i y_i^{R_ij} = k_j exp(sum_i R_ij log y_i),    dy/dt = N r,

written here with row vectors: ``r = k * exp(log(y) @ R)``, ``dydt = r @ N.T``. Two matmuls and
three pointwise ops: the shape of the vectorised kinetics codes (and of a log-space RHS).
Its Jacobian is d(dy/dt)/dy = N diag(r) R^T diag(1/y), the analytic NumPy reference.
"""
from __future__ import annotations

import numpy as np

NAME = "kinetics"
TITLE = "mass-action network, 20 species, 60 reactions: y -> dy/dt"
SPECIES = 20
REACTIONS = 60
SEED = 1234
METHODS = ("jacfwd", "jacrev")


def network(seed: int = SEED):
    """(R, N, k): reactant stoichiometry (20, 60), net stoichiometry (20, 60), rates (60,)."""
    rng = np.random.default_rng(seed)
    R = np.zeros((SPECIES, REACTIONS))
    P = np.zeros((SPECIES, REACTIONS))
    for j in range(REACTIONS):
        for i in rng.integers(0, SPECIES, size=rng.integers(1, 3)):  # 1-2 reactants (A + A allowed)
            R[i, j] += 1.0
        for i in rng.integers(0, SPECIES, size=rng.integers(1, 3)):  # 1-2 products
            P[i, j] += 1.0
    k = 10.0 ** rng.uniform(-2.0, 1.0, size=REACTIONS)
    return R, P - R, k


_R, _N, _K = network()
_NT = np.ascontiguousarray(_N.T)
# Q[j, i*20 + l] = N[i, j] R[l, j]: J[b, i, l] = sum_j Q[j, il] r[b, j] / y[b, l]
_Q = np.einsum("ij,lj->jil", _N, _R).reshape(REACTIONS, SPECIES * SPECIES)


def make_input(batch: int, seed: int = 0) -> np.ndarray:
    """``batch`` positive concentration vectors, shape (batch, 20)."""
    return np.random.default_rng(seed).uniform(0.1, 2.0, size=(batch, SPECIES))


# -- the same math, once per library -------------------------------------------------------
def gpuad_fn(ad, device=None):
    R, NT, k = (ad.tensor(a, device=device) for a in (_R, _NT, _K))

    def rhs(y):
        r = k * ad.exp(ad.log(y) @ R)
        return r @ NT
    return rhs


def torch_fn(torch, device=None):
    R, NT, k = (torch.tensor(a, dtype=torch.float64, device=device) for a in (_R, _NT, _K))

    def rhs(y):
        r = k * torch.exp(torch.log(y) @ R)
        return r @ NT
    return rhs


def jax_fn(jnp):
    R, NT, k = (jnp.asarray(a) for a in (_R, _NT, _K))

    def rhs(y):
        r = k * jnp.exp(jnp.log(y) @ R)
        return r @ NT
    return rhs


# -- analytic reference ----------------------------------------------------------------------
def numpy_reference(method: str, Y: np.ndarray) -> np.ndarray:
    """Batched analytic Jacobian N diag(r) R^T diag(1/y), shape (B, 20, 20): one GEMM."""
    r = _K * np.exp(np.log(Y) @ _R)                          # (B, 60)
    J = (r @ _Q).reshape(-1, SPECIES, SPECIES)               # (B, 20, 20) before 1/y_l
    J /= Y[:, None, :]
    return J
