"""The ``gpuad`` command: ``gpuad demo`` computes a batched physics Jacobian on the
default device and checks it; ``gpuad info`` lists devices."""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _synchronize(device: str) -> None:
    """Wait until ``device`` has run every kernel queued so far, without copying anything.

    cpu and cudasim compute synchronously; on ``cuda`` / ``cuda:N`` kernels are queued on
    the device and a Python call returns before they finish."""
    kind, _, index = device.partition(":")
    if kind == "cuda":
        import cupy
        cupy.cuda.Device(int(index) if index else None).synchronize()


def _demo(args):
    import gpuad as ad
    from gpuad.models import kinetics

    device = args.device or ad.get_default_device()
    net = kinetics.random_network(args.species, args.reactions, seed=0)
    rhs = kinetics.make_rhs(net, ad, device=device)
    rng = np.random.default_rng(1)
    y = rng.uniform(0.1, 1.0, size=(args.cells, args.species))
    Y = ad.tensor(y, device=device)
    jac_t = getattr(ad, args.method)
    jac = ad.vmap(jac_t(rhs))
    label = f"vmap({args.method})"
    if not args.eager:
        jac, label = ad.jit(jac), f"jit(vmap({args.method}))"
    print(f"gpuad {ad.__version__} | device {device} (usable: {', '.join(ad.devices())})")
    print(f"mass-action kinetics: {args.species} species, {args.reactions} reactions, "
          f"{args.cells:,} cells -> Jacobian ({args.cells:,}, {args.species}, {args.species}) "
          f"by {label}")
    # Every timed call ends with a device sync, never a download: the figure is the time to
    # compute the Jacobian, not to copy (cells x species x species) doubles to the host.
    t0 = time.perf_counter()
    J = jac(Y)  # first call: trace, compile (or load from the disk cache), run
    _synchronize(device)
    t_first = time.perf_counter() - t0
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        J = jac(Y)
        _synchronize(device)
        times.append(time.perf_counter() - t0)
    with ad.count_launches() as c:  # one more call, counted outside the timing
        J = jac(Y)
        _synchronize(device)
    ref = kinetics.analytic_jacobian(net, y)  # checked once, after the timing
    err = float(np.max(np.abs(J.numpy() - ref)) / max(1.0, np.max(np.abs(ref))))
    med = float(np.median(times))
    print(f"time: {med * 1e3:.1f} ms median of {args.repeat} calls, each synced, not copied "
          f"({args.cells / med / 1e6:.2f} M cell-Jacobians/s), first call {t_first * 1e3:.0f} ms, "
          f"{c.launches} kernel launches per batched Jacobian")
    ok = err < 1e-10
    print(f"check against the analytic Jacobian: max relative error {err:.2e} -> "
          f"{'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 1


def _info(args):
    import gpuad as ad
    from gpuad.backends import KNOWN, unavailable_reason
    print(f"gpuad {ad.__version__}; default device: {ad.get_default_device()}")
    for name in KNOWN:
        r = unavailable_reason(name)
        print(f"  {name:8s} {'usable' if r is None else 'not usable: ' + r}")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="gpuad", description=__doc__)
    sub = p.add_subparsers(dest="cmd")
    d = sub.add_parser("demo", help="batched chemical-kinetics Jacobian on the default device")
    d.add_argument("--cells", type=int, default=100_000)
    d.add_argument("--species", type=int, default=20)
    d.add_argument("--reactions", type=int, default=60)
    d.add_argument("--method", choices=["jacfwd", "jacrev"], default="jacfwd")
    d.add_argument("--device", default=None, help="cpu, cudasim or cuda (default: GPUAD_DEVICE or best)")
    d.add_argument("--repeat", type=int, default=5)
    d.add_argument("--eager", action="store_true", help="op by op, without ad.jit")
    sub.add_parser("info", help="list devices and why any is unusable")
    args = p.parse_args(argv)
    if args.cmd == "demo":
        return _demo(args)
    if args.cmd == "info":
        return _info(args)
    p.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
