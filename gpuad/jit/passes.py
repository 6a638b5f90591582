"""The jit's pass pipeline over a traced graph (``graph.simplify`` and the rewrites of
``rewrite.py``), in order; the result is what ``plan.compile`` lowers."""
from __future__ import annotations

from . import rewrite
from .graph import simplify


def optimize(graph, device):
    """The graph after every pass, for ``device`` (constants fold on it)."""
    graph = rewrite.fold_constants(rewrite.small_dets_as_arithmetic(simplify(graph)), device)
    graph = rewrite.contractions_through_identity(rewrite.sums_through_identity(graph))
    graph = rewrite.fold_constants(graph, device)
    graph = rewrite.scatters_as_contractions(rewrite.contractions_of_products(graph))
    graph = rewrite.fold_constants(graph, device)
    graph = rewrite.thin_contractions(rewrite.scatters_to_selects(simplify(graph)))
    return simplify(rewrite.transposed_contractions(graph))
