"""Op specs for ad.fft (the FFT family); registered into ``op_specs`` by its ``register``."""
from __future__ import annotations


def register(S):
    """Add this family's specs to the table ``S`` (the ``op_specs`` module)."""
