"""Op specs for the NumPy arithmetic, shape and ad.special functions; registered into ``op_specs`` by its ``register``."""
from __future__ import annotations

import numpy as np
import torch

try:
    import gpuad as ad
except ImportError:  # pragma: no cover
    ad = None


def _off_grid(shape, step=1.0, offset=0.0, gap=0.08, lo=-2.7, hi=2.7):
    """Uniform on (lo, hi), at least ``gap`` from every ``offset + k * step`` (the jumps of
    floor, round, remainder)."""
    def gen(rng):
        x = rng.uniform(lo, hi, size=shape)
        r = np.mod(x - offset, step)
        x = np.where(r < gap, x + gap, x)
        return np.where(step - r < gap, x - gap, x)
    return gen


def _mod_pair(sx, sy):
    """x, y with every x / y at least 0.05 from an integer (remainder jumps there) and
    |y| >= 0.5."""
    def gen(rng):
        for _ in range(10000):
            y = rng.uniform(0.5, 2.0, size=sy) * rng.choice([-1.0, 1.0], size=sy)
            x = rng.uniform(-3.0, 3.0, size=sx)
            q = x / y
            if np.min(np.abs(q - np.round(q)), initial=1.0) > 0.05:
                return [x, y]
        raise AssertionError("no pair drawn")
    return gen


def register(S):
    """Add this family's specs to the table ``S`` (the ``op_specs`` module)."""
    _arith(S)


def _arith(S):
    U, MIX, add, OpSpec = S.U, S.MIX, S.add, S.OpSpec
    # rounding: zero derivatives; samples kept off the jumps
    for name, t, gen in [
        ("floor", torch.floor, _off_grid((3, 4))),
        ("ceil", torch.ceil, _off_grid((5,))),
        ("trunc", torch.trunc, _off_grid((2, 3, 2))),
        ("round", torch.round, _off_grid((7,), offset=0.5)),
    ]:
        add(OpSpec(f"{name}[{','.join(map(str, gen(np.random.default_rng(0)).shape))}]",
                   (lambda n: lambda x: getattr(ad, n)(x))(name), t, getattr(np, name),
                   MIX(gen), sim=True, hess=True))
    add(
        OpSpec("round[3,4]decimals=1", lambda x: ad.round(x, 1), lambda x: torch.round(x, decimals=1),
               lambda x: np.round(x, 1), MIX(_off_grid((3, 4), step=0.1, offset=0.05, gap=0.01)),
               sim=True),
        OpSpec("round[5]decimals=-1", lambda x: ad.round(x * 30.0, -1),
               lambda x: torch.round(x * 30.0, decimals=-1), lambda x: np.round(x * 30.0, -1),
               MIX(_off_grid((5,), step=1 / 3, offset=1 / 6, gap=0.02)), sim=True),
        OpSpec("remainder[3,4]", lambda x, y: ad.remainder(x, y), torch.remainder, np.remainder,
               _mod_pair((3, 4), (3, 4)), diff=(0, 1), sim=True, hess=True),
        OpSpec("mod[3,1|1,4]", lambda x, y: ad.mod(x, y), torch.remainder, np.mod,
               _mod_pair((3, 1), (1, 4)), diff=(0, 1), sim=True),
        OpSpec("op_mod[3,4]", lambda x, y: x % y, lambda x, y: x % y, lambda x, y: x % y,
               _mod_pair((3, 4), (3, 4)), diff=(0, 1), kind="operator", sim=True, hess=True),
        OpSpec("op_mod_scalar[6]", lambda x: x % 0.7, lambda x: x % 0.7, lambda x: x % 0.7,
               MIX(_off_grid((6,), step=0.7, gap=0.04)), kind="operator", sim=True),
        OpSpec("op_rmod_scalar[6]", lambda y: 2.5 % y,
               lambda y: 2.5 - torch.floor(2.5 / y) * y,  # torch's remainder(scalar, t) has no forward AD
               lambda y: 2.5 % y,
               lambda rng: [_rmod_y(rng)], kind="operator", sim=True),
        OpSpec("hypot[3,4]", lambda x, y: ad.hypot(x, y), torch.hypot, np.hypot,
               MIX(U((3, 4)), S.S((3, 4))), diff=(0, 1), sim=True, hess=True),
        OpSpec("hypot[3,1|1,4]", lambda x, y: ad.hypot(x, y), torch.hypot, np.hypot,
               MIX(S.S((3, 1)), U((1, 4))), diff=(0, 1), sim=True),
        OpSpec("logaddexp[3,4]", lambda x, y: ad.logaddexp(x, y), torch.logaddexp, np.logaddexp,
               MIX(U((3, 4), -3, 3), U((3, 4), -3, 3)), diff=(0, 1), sim=True, hess=True),
        OpSpec("logaddexp[4|2,4]", lambda x, y: ad.logaddexp(x, y), torch.logaddexp, np.logaddexp,
               MIX(U((4,), -3, 3), U((2, 4), -3, 3)), diff=(0, 1), sim=True),
        OpSpec("logaddexp2[3,4]", lambda x, y: ad.logaddexp2(x, y), torch.logaddexp2, np.logaddexp2,
               MIX(U((3, 4), -3, 3), U((3, 4), -3, 3)), diff=(0, 1), sim=True, hess=True),
        OpSpec("sinc[3,4]", lambda x: ad.sinc(x), torch.sinc, np.sinc, MIX(S.S((3, 4), 0.05, 2.5)),
               sim=True, hess=True),
        OpSpec("deg2rad[5]", lambda x: ad.deg2rad(x), torch.deg2rad, np.deg2rad, MIX(U((5,), -200, 200)),
               sim=True, hess=True),
        OpSpec("rad2deg[5]", lambda x: ad.rad2deg(x), torch.rad2deg, np.rad2deg, MIX(U((5,))),
               sim=True, hess=True),
        OpSpec("fmax[3,4]", lambda x, y: ad.fmax(x, y), torch.fmax, np.fmax,
               S.separated((3, 4), (3, 4)), diff=(0, 1), sim=True, hess=True),
        OpSpec("fmin[3,1|1,4]", lambda x, y: ad.fmin(x, y), torch.fmin, np.fmin,
               S.separated((3, 1), (1, 4)), diff=(0, 1), sim=True, hess=True),
        OpSpec("nan_to_num[3,4]", lambda x: ad.nan_to_num(x, nan=1.0), lambda x: torch.nan_to_num(x, nan=1.0),
               lambda x: np.nan_to_num(x, nan=1.0), MIX(U((3, 4))), sim=True, hess=True),
    )


def _rmod_y(rng):
    """y (6,) with 2.5 / y at least 0.05 from an integer, |y| >= 0.5."""
    while True:
        y = rng.uniform(0.5, 2.0, size=6) * rng.choice([-1.0, 1.0], size=6)
        q = 2.5 / y
        if np.min(np.abs(q - np.round(q))) > 0.05:
            return y
