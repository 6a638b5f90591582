"""``neohookean``: compressible neo-Hookean strain energy of a 3x3 deformation gradient F,

    W(F) = mu/2 (tr(F^T F) - 3) - mu ln J + lam/2 (ln J)^2,    J = det F,

its gradient (the first Piola-Kirchhoff stress P = dW/dF, by jacfwd and by jacrev of the
scalar W) and its Hessian (the 3x3x3x3 tangent modulus A = d^2W/dF^2).

J is written out as the 3x3 cofactor expansion (``det3`` below, plain indexing and arithmetic,
so one definition serves every library) rather than ``linalg.det``: in torch 2.13
``torch.func.vmap(torch.func.jacfwd(torch.linalg.det))`` returns wrong values for every batch
element but the first (see docs/performance.md, "Peer bugs"), and hand-written 3x3
determinants are what finite-element kernels use anyway.

Analytic reference, with G = F^{-1}:
    P_iJ    = mu F_iJ + (lam ln J - mu) G_Ji
    A_iJkL  = mu d_ik d_JL + (mu - lam ln J) G_Jk G_Li + lam G_Ji G_Lk
"""
from __future__ import annotations

import numpy as np

NAME = "neohookean"
TITLE = "neo-Hookean W(F), F 3x3: stress dW/dF and tangent d2W/dF2"
MU = 1.3
LAM = 2.1
METHODS = ("jacfwd", "jacrev", "hessian")


def make_input(batch: int, seed: int = 0) -> np.ndarray:
    """``batch`` deformation gradients I + 0.15 * noise (det F > 0), shape (batch, 3, 3)."""
    rng = np.random.default_rng(seed)
    F = np.eye(3) + 0.15 * rng.standard_normal((batch, 3, 3))
    bad = np.linalg.det(F) <= 0.2
    F[bad] = np.eye(3)  # vanishingly rare at this noise level; keep every J comfortably positive
    return F


def det3(F):
    """det of a 3x3 by cofactor expansion; works on any array type with [i, j] indexing."""
    return (F[0, 0] * (F[1, 1] * F[2, 2] - F[1, 2] * F[2, 1])
            - F[0, 1] * (F[1, 0] * F[2, 2] - F[1, 2] * F[2, 0])
            + F[0, 2] * (F[1, 0] * F[2, 1] - F[1, 1] * F[2, 0]))


# -- the same math, once per library -------------------------------------------------------
def gpuad_fn(ad, device=None):
    def energy(F):
        lnJ = ad.log(det3(F))
        return 0.5 * MU * (ad.sum(F * F) - 3.0) - MU * lnJ + 0.5 * LAM * lnJ * lnJ
    return energy


def torch_fn(torch, device=None):
    def energy(F):
        lnJ = torch.log(det3(F))
        return 0.5 * MU * (torch.sum(F * F) - 3.0) - MU * lnJ + 0.5 * LAM * lnJ * lnJ
    return energy


def jax_fn(jnp):
    def energy(F):
        lnJ = jnp.log(det3(F))
        return 0.5 * MU * (jnp.sum(F * F) - 3.0) - MU * lnJ + 0.5 * LAM * lnJ * lnJ
    return energy


# -- analytic reference ----------------------------------------------------------------------
def numpy_reference(method: str, F: np.ndarray) -> np.ndarray:
    G = np.linalg.inv(F)                                   # (B, 3, 3)
    lnJ = np.log(np.linalg.det(F))[:, None, None]
    if method in ("jacfwd", "jacrev"):
        return MU * F + (LAM * lnJ - MU) * np.swapaxes(G, 1, 2)
    eye = np.eye(3)
    c = (MU - LAM * lnJ)[..., None, None]
    return (MU * np.einsum("ik,JL->iJkL", eye, eye)[None]
            + c * np.einsum("bJk,bLi->biJkL", G, G)
            + LAM * np.einsum("bJi,bLk->biJkL", G, G))
