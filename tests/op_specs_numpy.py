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
    _arrays(S)
    _special(S)


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


def _tpad(mode):
    """torch's pad of the last two axes of a 2-D tensor (F.pad wants a channel axis)."""
    def f(x, width):
        (a, b), (c, d) = width
        return torch.nn.functional.pad(x[None], (c, d, a, b), mode=mode)[0]
    return f


def _tindex_pad(x, width, mode):
    for ax, (b, e) in enumerate(width):
        idx = torch.as_tensor(np.pad(np.arange(x.shape[ax]), (b, e), mode=mode))
        x = torch.index_select(x, ax, idx)
    return x


def _arrays(S):
    U, MIX, OpSpec = S.U, S.MIX, S.OpSpec
    shape = S._shape

    def pieces(parts):  # every piece of a split, each scaled differently, as one tensor
        mod = ad if isinstance(parts[0], ad.Tensor) else (torch if isinstance(parts[0], torch.Tensor) else np)
        cat = mod.cat if mod is torch else mod.concatenate
        return cat([p.reshape(-1) * (i + 1) for i, p in enumerate(parts)])

    shape("split[4,6]3,axis=1", lambda x: pieces(ad.split(x, 3, axis=1)),
          lambda x: pieces(torch.tensor_split(x, 3, dim=1)), lambda x: pieces(np.split(x, 3, axis=1)),
          MIX(U((4, 6))))
    shape("split[7]indices", lambda x: pieces(ad.split(x, [2, -2, 9])),
          lambda x: pieces([x[:2], x[2:-2], x[-2:9], x[9:]]), lambda x: pieces(np.split(x, [2, -2, 9])),
          MIX(U((7,))))
    shape("array_split[3,7]3,axis=-1", lambda x: pieces(ad.array_split(x, 3, axis=-1)),
          lambda x: pieces(torch.tensor_split(x, 3, dim=-1)), lambda x: pieces(np.array_split(x, 3, axis=-1)),
          MIX(U((3, 7))))
    shape("tril[4,5]", lambda x: ad.tril(x), torch.tril, np.tril, MIX(U((4, 5))))
    shape("tril[2,4,4]k=-1", lambda x: ad.tril(x, -1), lambda x: torch.tril(x, -1), lambda x: np.tril(x, -1),
          MIX(U((2, 4, 4))))
    shape("triu[4,5]k=1", lambda x: ad.triu(x, k=1), lambda x: torch.triu(x, 1), lambda x: np.triu(x, 1),
          MIX(U((4, 5))))
    shape("triu[3]1d", lambda x: ad.triu(x), lambda x: torch.triu(x.expand(3, 3)), np.triu, MIX(U((3,))))
    shape("repeat[3,4]2,axis=1", lambda x: ad.repeat(x, 2, axis=1),
          lambda x: torch.repeat_interleave(x, 2, dim=1), lambda x: np.repeat(x, 2, axis=1), MIX(U((3, 4))))
    shape("repeat[3,4]counts,axis=0", lambda x: ad.repeat(x, [2, 0, 3], axis=0),
          lambda x: torch.repeat_interleave(x, torch.tensor([2, 0, 3]), dim=0),
          lambda x: np.repeat(x, [2, 0, 3], axis=0), MIX(U((3, 4))))
    shape("repeat[2,3]flat", lambda x: ad.repeat(x, 2), lambda x: torch.repeat_interleave(x.reshape(-1), 2),
          lambda x: np.repeat(x, 2), MIX(U((2, 3))))
    shape("roll[3,4]", lambda x: ad.roll(x, 5), lambda x: torch.roll(x, 5), lambda x: np.roll(x, 5), MIX(U((3, 4))))
    shape("roll[3,4]axes", lambda x: ad.roll(x, (1, -3), axis=(0, 1)), lambda x: torch.roll(x, (1, -3), (0, 1)),
          lambda x: np.roll(x, (1, -3), axis=(0, 1)), MIX(U((3, 4))))
    W = ((1, 2), (0, 3))
    shape("pad[3,4]constant", lambda x: ad.pad(x, W, constant_values=1.5),
          lambda x: torch.nn.functional.pad(x, (0, 3, 1, 2), value=1.5),
          lambda x: np.pad(x, W, constant_values=1.5), MIX(U((3, 4))))
    shape("pad[2,3,2]int", lambda x: ad.pad(x, 1), lambda x: torch.nn.functional.pad(x, (1,) * 6),
          lambda x: np.pad(x, 1), MIX(U((2, 3, 2))))
    for mode, tmode in (("edge", "replicate"), ("reflect", "reflect"), ("wrap", "circular")):
        shape(f"pad[3,4]{mode}", (lambda m: lambda x: ad.pad(x, W, mode=m))(mode),
              (lambda m: lambda x: _tpad(m)(x, W))(tmode), (lambda m: lambda x: np.pad(x, W, mode=m))(mode),
              MIX(U((3, 4))))
    shape("pad[5]symmetric", lambda x: ad.pad(x, (3, 2), mode="symmetric"),
          lambda x: _tindex_pad(x, ((3, 2),), "symmetric"), lambda x: np.pad(x, (3, 2), mode="symmetric"),
          MIX(U((5,))))
    shape("diff[3,5]", lambda x: ad.diff(x), torch.diff, np.diff, MIX(U((3, 5))))
    shape("diff[4,3]n=2,axis=0", lambda x: ad.diff(x, 2, axis=0), lambda x: torch.diff(x, 2, dim=0),
          lambda x: np.diff(x, 2, axis=0), MIX(U((4, 3))))
    shape("diff[5|2]prepend,append", lambda x, p: ad.diff(x, prepend=p, append=0.5),
          lambda x, p: torch.diff(x, prepend=p, append=torch.tensor([0.5])),
          lambda x, p: np.diff(x, prepend=p, append=0.5), MIX(U((5,)), U((2,))), diff=(0, 1))
    shape("kron[2,3|3,2]", lambda a, b: ad.kron(a, b), torch.kron, np.kron, MIX(U((2, 3)), U((3, 2))), diff=(0, 1))
    shape("kron[3|2,2]", lambda a, b: ad.kron(a, b), torch.kron, np.kron, MIX(U((3,)), U((2, 2))), diff=(0, 1))
    for k in (1, 2, 3, -1):
        shape(f"rot90[3,4]k={k}", (lambda k: lambda x: ad.rot90(x, k))(k),
              (lambda k: lambda x: torch.rot90(x, k, (0, 1)))(k), (lambda k: lambda x: np.rot90(x, k))(k),
              MIX(U((3, 4))))
    shape("rot90[2,3,4]axes=(2,0)", lambda x: ad.rot90(x, axes=(2, 0)), lambda x: torch.rot90(x, 1, (2, 0)),
          lambda x: np.rot90(x, axes=(2, 0)), MIX(U((2, 3, 4))))
    shape("sort[3,5]", lambda x: ad.sort(x), lambda x: torch.sort(x).values, np.sort, MIX(S.D((3, 5))))
    shape("sort[4,3]axis=0", lambda x: ad.sort(x, axis=0), lambda x: torch.sort(x, dim=0).values,
          lambda x: np.sort(x, axis=0), MIX(S.D((4, 3))))
    shape("sort[2,3]axis=None", lambda x: ad.sort(x, axis=None), lambda x: torch.sort(x.reshape(-1)).values,
          lambda x: np.sort(x, axis=None), MIX(S.D((2, 3))))
    shape("sort[33]", lambda x: ad.sort(x), lambda x: torch.sort(x).values, np.sort, MIX(S.D((33,))))
    S.add(
        OpSpec("cumprod[3,4]axis=1", lambda x: ad.cumprod(x, axis=1), lambda x: torch.cumprod(x, 1),
               lambda x: np.cumprod(x, 1), MIX(S.S((3, 4), 0.5, 1.5)), kind="reduction", sim=True, hess=True),
        OpSpec("cumprod[2,3,2]axis=None", lambda x: ad.cumprod(x), lambda x: torch.cumprod(x.reshape(-1), 0),
               lambda x: np.cumprod(x), MIX(S.S((2, 3, 2), 0.5, 1.5)), kind="reduction", sim=True),
        OpSpec("cumprod[7]zeros", lambda x: ad.cumprod(x, axis=0), lambda x: torch.cumprod(x, 0),
               lambda x: np.cumprod(x, 0), lambda rng: [rng.uniform(0.5, 1.5, 7) * np.array([1, 0, 1, 1, 0, 0, 1])],
               kind="reduction", sim=True, hess=True),
        OpSpec("cumprod[33]", lambda x: ad.cumprod(x, axis=0), lambda x: torch.cumprod(x, 0),
               lambda x: np.cumprod(x, 0), MIX(S.S((33,), 0.8, 1.2)), kind="reduction", sim=True),
    )
    shape("meshgrid[3|4]xy", lambda x, y: ad.stack(ad.meshgrid(x, y)),
          lambda x, y: torch.stack(torch.meshgrid(x, y, indexing="xy")), lambda x, y: np.stack(np.meshgrid(x, y)),
          MIX(U((3,)), U((4,))), diff=(0, 1))
    shape("meshgrid[2|3|2]ij", lambda x, y, z: ad.stack(ad.meshgrid(x, y, z, indexing="ij")),
          lambda x, y, z: torch.stack(torch.meshgrid(x, y, z, indexing="ij")),
          lambda x, y, z: np.stack(np.meshgrid(x, y, z, indexing="ij")), MIX(U((2,)), U((3,)), U((2,))),
          diff=(0, 1, 2))
    shape("meshgrid[3|2]sparse", lambda x, y: sum(ad.meshgrid(x, y, sparse=True)),
          lambda x, y: x[None, :] + y[:, None], lambda x, y: sum(np.meshgrid(x, y, sparse=True)),
          MIX(U((3,)), U((2,))), diff=(0, 1))
    shape("x.ravel()[3,4]", lambda x: x.ravel(), lambda x: x.ravel(), lambda x: x.ravel(), MIX(U((3, 4))))
    # diag with k, diagonal and trace with offset
    S.add(
        OpSpec("diag[3]k=1", lambda x: ad.diag(x, k=1), lambda x: torch.diag(x, 1), lambda x: np.diag(x, 1),
               MIX(U((3,))), kind="linalg"),
        OpSpec("diag[4,5]k=-2", lambda x: ad.diag(x, -2), lambda x: torch.diag(x, -2), lambda x: np.diag(x, -2),
               MIX(U((4, 5))), kind="linalg"),
        OpSpec("diagonal[2,4,5]offset=1", lambda x: ad.diagonal(x, offset=1),
               lambda x: torch.diagonal(x, 1, -2, -1), lambda x: np.diagonal(x, 1, -2, -1), MIX(U((2, 4, 5))),
               kind="linalg"),
        OpSpec("diagonal[3,4,2]offset=-1,axes", lambda x: ad.diagonal(x, -1, 0, 1),
               lambda x: torch.diagonal(x, -1, 0, 1), lambda x: np.diagonal(x, -1, 0, 1), MIX(U((3, 4, 2))),
               kind="linalg"),
        OpSpec("trace[4,5]offset=1", lambda x: ad.trace(x, offset=1),
               lambda x: torch.diagonal(x, 1).sum(-1), lambda x: np.trace(x, 1), MIX(U((4, 5))), kind="linalg"),
    )


# torch's polygamma(1, x) is accurate to only about 5e-10 (scipy's and gpuad's to 1e-16), too
# loose for the oracle's derivatives at 1e-10; so the oracles of gammaln and digamma are
# the textbook series written in torch ops (recurrence to x + 12, Stirling / asymptotic
# series, reflection below 0), and torch differentiates them
_BERN = [1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510]


def _t_lgamma_pos(x):
    y = x + 12.0
    s = (y - 0.5) * torch.log(y) - y + 0.5 * np.log(2 * np.pi)
    s = s + sum(b / (2 * k * (2 * k - 1)) * y ** (1 - 2 * k) for k, b in enumerate(_BERN, 1))
    return s - sum(torch.log(x + k) for k in range(12))


def _t_gammaln(x):
    neg = x < 0
    xs = torch.where(neg, 1.0 - x, x)
    refl = np.log(np.pi) - torch.log(torch.abs(torch.sin(np.pi * x))) - _t_lgamma_pos(xs)
    return torch.where(neg, refl, _t_lgamma_pos(xs))


def _t_digamma_pos(x):
    y = x + 12.0
    s = torch.log(y) - 0.5 / y - sum(b / (2 * k) * y ** (-2 * k) for k, b in enumerate(_BERN, 1))
    return s - sum(1.0 / (x + k) for k in range(12))


def _t_digamma(x):
    neg = x < 0
    xs = torch.where(neg, 1.0 - x, x)
    return torch.where(neg, _t_digamma_pos(xs) - np.pi / torch.tan(np.pi * x), _t_digamma_pos(xs))


def _special(S):
    U, MIX, OpSpec = S.U, S.MIX, S.OpSpec
    sp = lambda n: (lambda *a: getattr(ad.special, n)(*a))  # noqa: E731
    off_poles = S.away((3, 4), (0.0, -1.0, -2.0), gap=0.1, lo=-2.8, hi=4.0)

    def np_of(tf):  # NumPy has none of these: the forward reference is torch's float64 value
        return lambda *a: tf(*[torch.as_tensor(np.asarray(v, np.float64)) for v in a]).numpy()

    cases = [
        ("erfc[3,4]", "erfc", torch.special.erfc, MIX(U((3, 4))), (0,)),
        ("erfc[5]tail", "erfc", torch.special.erfc, MIX(U((5,), 2.0, 5.0)), (0,)),
        ("erfinv[3,4]", "erfinv", torch.special.erfinv, MIX(U((3, 4), -0.95, 0.95)), (0,)),
        ("erfinv[6]tails", "erfinv", torch.special.erfinv,
         lambda rng: [np.array([-0.998, -0.99, -0.6, 0.7, 0.99, 0.998])], (0,)),
        ("gammaln[3,4]", "gammaln", _t_gammaln, MIX(U((3, 4), 0.2, 6.0)), (0,)),
        ("gammaln[3,4]negative", "gammaln", _t_gammaln, MIX(off_poles), (0,)),
        ("digamma[3,4]", "digamma", _t_digamma, MIX(off_poles), (0,)),
        ("digamma[5]large", "digamma", _t_digamma, MIX(U((5,), 10.0, 1e4)), (0,)),
        ("xlogy[3,4]", "xlogy", torch.special.xlogy, MIX(U((3, 4)), U((3, 4), 0.2, 3.0)), (0, 1)),
        ("xlogy[3,1|1,4]", "xlogy", torch.special.xlogy, MIX(U((3, 1)), U((1, 4), 0.2, 3.0)), (0, 1)),
        ("xlog1py[3,4]", "xlog1py", torch.special.xlog1py, MIX(U((3, 4)), U((3, 4), -0.8, 3.0)), (0, 1)),
        ("logit[3,4]", "logit", torch.special.logit, MIX(U((3, 4), 0.05, 0.95)), (0,)),
        ("expit[3,4]", "expit", torch.special.expit, MIX(U((3, 4), -4, 4)), (0,)),
        ("softplus[3,4]", "softplus", torch.nn.functional.softplus, MIX(U((3, 4), -4, 4)), (0,)),
    ]
    ref = {"gammaln": torch.special.gammaln, "digamma": torch.special.digamma}  # torch's values
    for label, name, tf, make, diff in cases:
        S.add(OpSpec(f"special.{label}", sp(name), tf, np_of(ref.get(name, tf)), make, diff=diff,
                     sim=True, hess=True))
