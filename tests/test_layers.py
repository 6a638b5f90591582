"""The package's layers (docs/design.md, "Layers"): every module of ``gpuad/`` and
``kernels/`` sits in one layer, imports only from its own layer or below, and the
modules form no import circle. Read from the source with ``ast``, function-local
imports included (a local import still makes the module depend on its target)."""
from __future__ import annotations

import ast
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Bottom to top. A module name is matched by the first pattern that fits.
LAYERS = [
    ("base", r"gpuad\.(errors|dtypes|pytree|launches|kernel_costs)"),
    ("devices", r"gpuad\.backends\.(base|counting|simcupy|cpu_special)"),
    ("kernel templates", r"gpuad\.kernels(\.(target|cache|elementwise|reduction|small_linalg))?"),
    ("backends", r"gpuad\.backends(\.(cpu|cudasim|cuda))?"),
    ("traces", r"gpuad\.core"),
    ("registry", r"gpuad\.primitive"),
    ("storage", r"gpuad\.(tensor|tape|eval)"),
    ("ops", r"gpuad\.(ops(\..+)?|custom|special|linalg|fft)"),
    ("transforms", r"gpuad\.(interpreters(\..+)?|transforms)"),
    ("jit", r"gpuad\.jit(\..+)?"),
    ("namespace", r"gpuad|gpuad\.numpy_dispatch"),
    ("tools", r"gpuad\.(cli|dask|__main__|models(\..+)?|ptx(\..+)?)"),
]


def module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    if parts[0] == "kernels":  # packaged as gpuad.kernels (pyproject's package-dir)
        parts.insert(0, "gpuad")
    return ".".join(parts)


def layer_of(name: str):
    for i, (_, pattern) in enumerate(LAYERS):
        if re.fullmatch(pattern, name):
            return i
    return None


def imports_of(name: str, source: str, known: set, is_package: bool):
    """``(line, target module)`` for every import of a module in ``known``."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base == "kernels" or base.startswith("kernels."):
                base = "gpuad." + base
            # ``from pkg import mod`` imports the submodule; ``from mod import name`` the module
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.append((node.lineno, t))
    return out


def package_graph():
    files = sorted(list((ROOT / "gpuad").rglob("*.py")) + list((ROOT / "kernels").rglob("*.py")))
    names = {module_name(f): f for f in files}
    known = set(names)
    return {n: imports_of(n, f.read_text(encoding="utf-8"), known, f.name == "__init__.py")
            for n, f in names.items()}


def upward_imports(graph):
    bad = []
    for mod, edges in graph.items():
        for line, target in edges:
            if layer_of(target) > layer_of(mod):
                bad.append(f"{mod}:{line} ({LAYERS[layer_of(mod)][0]}) imports {target} "
                           f"({LAYERS[layer_of(target)][0]})")
    return bad


def circles(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for _, w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


@pytest.fixture(scope="module")
def graph():
    return package_graph()


def test_every_module_has_a_layer(graph):
    missing = sorted(m for m in graph if layer_of(m) is None)
    assert not missing, f"modules in no layer (add them to LAYERS here and in docs/design.md): {missing}"


def test_every_package_folder_is_packaged():
    # a wheel carries only the packages pyproject.toml lists (no discovery)
    import tomllib
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {module_name(f.parent / "__init__.py") for f in (ROOT / "gpuad").rglob("__init__.py")}
    folders |= {"gpuad.kernels"}
    assert folders == listed, (sorted(folders - listed), sorted(listed - folders))


def test_kernels_folder_holds_only_the_kernel_templates(graph):
    # kernels/ imports nothing above its templates (the PTX tool, which traces jit
    # programs, is gpuad/ptx/ in the tools floor)
    inside = sorted(m for m in graph if m == "gpuad.kernels" or m.startswith("gpuad.kernels."))
    assert len(inside) >= 5
    assert all(LAYERS[layer_of(m)][0] == "kernel templates" for m in inside), inside


def test_no_module_imports_from_a_layer_above(graph):
    bad = upward_imports(graph)
    assert not bad, "imports that go up a layer:\n" + "\n".join(bad)


def test_no_import_circle(graph):
    found = [sorted(c) for c in circles(graph)]
    assert not found, f"import circles: {found}"
    assert len(graph) > 60  # the walk saw the package


def test_the_checks_catch_planted_violations():
    known = {"gpuad.core", "gpuad.jit.plan", "gpuad.ops.shape", "gpuad.tensor"}
    src = "def f():\n    from .jit import plan\n"
    graph = {"gpuad.core": imports_of("gpuad.core", src, known, False),
             "gpuad.jit.plan": [], "gpuad.tensor": [(1, "gpuad.ops.shape")],
             "gpuad.ops.shape": [(3, "gpuad.tensor")]}
    assert graph["gpuad.core"] == [(2, "gpuad.jit.plan")]
    bad = upward_imports(graph)
    assert any(b.startswith("gpuad.core:2 (traces) imports gpuad.jit.plan (jit)") for b in bad)
    assert any(b.startswith("gpuad.tensor:1 (storage) imports gpuad.ops.shape (ops)") for b in bad)
    assert circles(graph) == [{"gpuad.tensor", "gpuad.ops.shape"}]


def test_design_doc_names_every_layer():
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    for name, _ in LAYERS:
        assert re.search(rf"^ [┌├└] {re.escape(name)} ─", text, re.M), \
            f"docs/design.md's layer diagram lacks the layer {name!r}"
