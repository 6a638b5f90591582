"""``python -m bench``: pin thread counts and cap memory first, then import the numerical
libraries and run."""
import sys

from bench import default_memory_gib, limit_memory, pin_threads


def _opt(argv, name, default):
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return default


if __name__ == "__main__":
    argv = sys.argv[1:]
    pin_threads(int(_opt(argv, "--threads", 1)))  # before numpy, torch, jax and numba load
    limit_memory(float(_opt(argv, "--max-memory-gb", default_memory_gib())))
    from bench.run import main

    sys.exit(main())
