"""``python -m gpuad.ptx --ptx --arch sm_80,sm_90 --out DIR [--report]``."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m gpuad.ptx",
        description="Compile every kernel gpuad can emit to PTX (no GPU needed); with "
                    "--report, print ptxas registers / spills / shared memory per kernel.")
    ap.add_argument("--ptx", action="store_true", help="compile the kernels to PTX")
    ap.add_argument("--arch", default="sm_80,sm_90",
                    help="comma-separated target architectures (default sm_80,sm_90)")
    ap.add_argument("--out", default="ptx", help="output folder for the .ptx files")
    ap.add_argument("--report", action="store_true",
                    help="run ptxas -v on each file (when ptxas is on the machine)")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (default: cores)")
    ap.add_argument("--only", default=None, help="only kernels whose name contains this")
    ap.add_argument("--list", action="store_true", help="list the kernel instances and exit")
    args = ap.parse_args(argv)
    import gpuad.ptx as ptx
    if args.list:
        for label, kind, _ in ptx.instances():
            print(f"{kind:<12} {label}")
        return 0
    if not args.ptx:
        ap.print_help()
        return 2
    archs = [a.strip() for a in args.arch.split(",") if a.strip()]
    ptx.run(archs, args.out, report=args.report, jobs=args.jobs, only=args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
