"""No rule is looked up by a primitive's name (DESIGN.md, "Layers").

A primitive's rules are found through the ``Primitive`` object: an attribute declared
with the primitive (``prim.jvp``, ``prim.numpy``, ``prim.quiet``), or a table keyed by
the object / an ``is`` comparison (``e.prim is reshape_p``) in the module that needs one.
The name is for display only (errors, launch records, reprs, generated identifiers).

This test walks the syntax tree of every module of ``gpuad/`` and ``kernels/`` and fails
on the shapes a by-name lookup takes:

* a comparison of a primitive's name (``x.prim.name == "mul"``, ``prim.name in
  ("astype", "conj")``, or ``name == ...`` / ``name in _SET`` where ``name`` was assigned
  from a ``.prim.name``) with a string, a literal collection of strings, or a module-level
  collection of strings;
* a comparison of something called ``prim`` (``prim``, ``nest.prim``: a primitive never
  equals a string, so it holds a name there) with strings, as above;
* a membership test or comparison against a collection of at least ``MIN_NAMES``
  strings that are all registered primitive names (``name in _QUIET``);
* a subscript or ``.get(`` of a dict literal (module-level in this module or, by its
  name, in another one; or inline) with at least ``MIN_NAMES`` keys, all registered
  primitive names (``_UFUNCS[name]``, ``cpu._UFUNCS.get(name)``).

(Fewer than ``MIN_NAMES`` strings are not counted: the names of small linalg routines,
``det`` / ``inv`` / ``solve``, and of public functions are primitive names, too.)
"""
from __future__ import annotations

import ast
import pathlib
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
MIN_NAMES = 5


def _is_str(node):
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _str_collection(node):
    """A literal tuple / list / set of strings, or ``frozenset([...])`` / ``set((...))``
    of one (empty ones do not count)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
            node.func.id in ("frozenset", "set", "tuple") and len(node.args) == 1:
        node = node.args[0]
    return isinstance(node, (ast.Tuple, ast.List, ast.Set)) and bool(node.elts) and \
        all(_is_str(e) for e in node.elts)


def _names_prim(node):
    """Whether ``node`` (the value of a ``.name`` attribute) is a primitive: an expression
    that mentions ``prim`` (``prim``, ``e.prim``, ``nest.prim``, ``self._prim``) or is
    the conventional ``p``."""
    if isinstance(node, ast.Name) and node.id == "p":
        return True
    return "prim" in ast.unparse(node).lower()


def _is_prim_name(node):
    return isinstance(node, ast.Attribute) and node.attr == "name" and _names_prim(node.value)


def _is_called_prim(node):
    """``prim``, ``e.prim``, ``nest.prim``: a variable or attribute named ``prim``."""
    return (isinstance(node, ast.Name) and node.id == "prim") or \
        (isinstance(node, ast.Attribute) and node.attr == "prim")


def _strings_of(node):
    """The strings of a literal collection of strings (see ``_str_collection``)."""
    if isinstance(node, ast.Call):
        node = node.args[0]
    return {e.value for e in node.elts}


class _Checker(ast.NodeVisitor):
    def __init__(self, prim_names, foreign_tables=frozenset(), foreign_strs=frozenset()):
        self.prim_names = prim_names
        self.str_sets = set()   # module-level names bound to collections of strings
        self.name_sets = set()  # ... of primitive names
        self.tables = set()     # module-level names bound to primitive-name dicts
        self.foreign_tables = foreign_tables  # such names in other modules (``mod.NAME``)
        self.foreign_strs = foreign_strs  # and those of string collections there
        self.tainted = [set()]  # per function scope: locals assigned a prim's name
        self.found = []         # (line, message)

    # -- module-level bindings ------------------------------------------------------
    def _is_table(self, node):
        if not isinstance(node, ast.Dict) or len(node.keys) < MIN_NAMES:
            return False
        return all(k is not None and _is_str(k) and k.value in self.prim_names
                   for k in node.keys)

    def _is_names(self, node):
        """A literal collection of two or more strings, all primitive names."""
        if not _str_collection(node):
            return False
        names = _strings_of(node)
        return len(names) >= MIN_NAMES and names <= self.prim_names

    def scan_module(self, tree):
        for stmt in tree.body:
            targets, value = [], None
            if isinstance(stmt, ast.Assign):
                targets, value = stmt.targets, stmt.value
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                targets, value = [stmt.target], stmt.value
            for t in targets:
                if not isinstance(t, ast.Name):
                    continue
                if _str_collection(value) or (isinstance(value, ast.Dict) and value.keys and
                                              all(k is not None and _is_str(k) for k in value.keys)):
                    self.str_sets.add(t.id)
                if self._is_names(value):
                    self.name_sets.add(t.id)
                if self._is_table(value):
                    self.tables.add(t.id)
        self.visit(tree)

    # -- scopes -------------------------------------------------------------------
    def _scope(self, node):
        self.tainted.append(set())
        self.generic_visit(node)
        self.tainted.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _scope

    def visit_Assign(self, node):
        if _is_prim_name(node.value):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    self.tainted[-1].add(t.id)
        self.generic_visit(node)

    # -- the two shapes -----------------------------------------------------------
    def _is_name_of_prim(self, node):
        return _is_prim_name(node) or (isinstance(node, ast.Name) and
                                       any(node.id in s for s in self.tainted))

    def _is_strings(self, node):
        return _is_str(node) or _str_collection(node) or \
            (isinstance(node, ast.Name) and node.id in self.str_sets) or \
            (isinstance(node, ast.Attribute) and node.attr in self.foreign_strs)

    def visit_Compare(self, node):
        operands = [node.left, *node.comparators]
        if any(self._is_name_of_prim(a) or _is_called_prim(a) for a in operands) and \
                any(self._is_strings(b) for b in operands):
            self.found.append((node.lineno, "a primitive's name compared with strings: "
                               + ast.unparse(node)))
        elif any(self._is_names(b) or (isinstance(b, ast.Name) and b.id in self.name_sets)
                 for b in node.comparators):
            self.found.append((node.lineno, "a test against primitive names: "
                               + ast.unparse(node)))
        self.generic_visit(node)

    def _table(self, node):
        return (isinstance(node, ast.Name) and node.id in self.tables) or \
            (isinstance(node, ast.Attribute) and node.attr in self.foreign_tables) or \
            self._is_table(node)

    def visit_Subscript(self, node):
        if isinstance(node.ctx, ast.Load) and self._table(node.value):
            self.found.append((node.lineno, "a table keyed by primitive names: "
                               + ast.unparse(node)))
        self.generic_visit(node)

    def visit_Call(self, node):
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr == "get" and self._table(f.value):
            self.found.append((node.lineno, "a table keyed by primitive names: "
                               + ast.unparse(node)))
        self.generic_visit(node)


def check_source(src, prim_names, filename="<src>", foreign_tables=frozenset(),
                 foreign_strs=frozenset()):
    """The by-name rule lookups in ``src``: a list of ``"file:line: message"``.
    ``foreign_tables``, ``foreign_strs``: names of primitive-name tables and of string
    collections (str-keyed dicts included) of other modules."""
    c = _Checker(frozenset(prim_names), frozenset(foreign_tables), frozenset(foreign_strs))
    c.scan_module(ast.parse(src, filename))
    return [f"{filename}:{line}: {msg}" for line, msg in c.found]


def tables_of(src, prim_names):
    """The module-level names of ``src`` bound to primitive-name tables, and those bound
    to collections of strings."""
    c = _Checker(frozenset(prim_names))
    c.scan_module(ast.parse(src))
    return c.tables, c.str_sets


def check_files(files, prim_names, root=ROOT):
    """``check_source`` over ``files``, with each other's tables known."""
    srcs = {f.relative_to(root).as_posix(): f.read_text() for f in files}
    foreign, strs = set(), set()
    for src in srcs.values():
        t, c = tables_of(src, prim_names)
        foreign |= t
        strs |= c
    found = []
    for rel, src in srcs.items():
        found += check_source(src, prim_names, rel, foreign, strs)
    return found


def _sources():
    files = sorted((ROOT / "gpuad").rglob("*.py")) + sorted((ROOT / "kernels").rglob("*.py"))
    return [f for f in files if "__pycache__" not in f.parts]


@pytest.fixture(scope="module")
def prim_names():
    import gpuad  # noqa: F401  (registers every primitive)
    from gpuad.primitive import registry
    assert len(registry) > 50
    return frozenset(registry)


# -- the checker catches what it should, and only that ----------------------------------

NAMES = frozenset(["sin", "cos", "tan", "exp", "log", "mul", "div", "reshape", "astype"])


@pytest.mark.parametrize("src", [
    # a comparison with a string
    """
    def f(e):
        if e.prim.name == "reshape":
            return 1
    """,
    # ... with a literal collection of strings, negated
    """
    def f(nest):
        return nest.prim.name not in ("mul", "div")
    """,
    """
    def f(prim):
        return prim.name in {"astype", "stop_gradient"}
    """,
    # the name taken into a local first, then tested against a module-level set
    """
    _POINTWISE_LIKE = frozenset(["astype", "conj"])

    def f(e):
        name = e.prim.name
        return name in _POINTWISE_LIKE
    """,
    # a module-level table of primitive names, by subscript and by .get
    """
    _UFUNCS = {"sin": 1, "cos": 2, "tan": 3, "exp": 4, "log": 5}

    def f(p):
        return _UFUNCS[p.name]
    """,
    """
    _UFUNCS = {"sin": 1, "cos": 2, "tan": 3, "exp": 4, "log": 5}

    def f(name):
        return _UFUNCS.get(name)
    """,
    # an inline one
    """
    def f(name):
        return {"sin": 1, "cos": 2, "tan": 3, "exp": 4, "log": 5}[name]
    """,
    # a name carried in a variable called prim (a primitive never equals a string)
    """
    def fold(prim, args):
        if prim == "mul":
            return 0
    """,
    """
    def value(nest):
        return nest.prim not in ("mul", "div")
    """,
    # any name tested against a set of primitive names
    """
    _QUIET = frozenset(["sin", "cos", "mul", "div", "exp"])

    def elementwise(name, arrays):
        return name in _QUIET
    """,
    """
    def f(op):
        return op in ("reshape", "astype", "sin", "cos", "exp")
    """,
])
def test_checker_flags_a_planted_lookup_by_name(src):
    found = check_source(textwrap.dedent(src), NAMES)
    assert len(found) == 1, found


@pytest.mark.parametrize("src", [
    # by the object
    """
    def f(e):
        return e.prim is reshape_p or e.prim in _MOVES
    """,
    # names for display: messages, launch records, generated identifiers
    """
    def f(prim, launches):
        launches.record(prim.name)
        st_name = "+".join(e.prim.name for e in prim.eqns)
        raise ValueError(f"{prim.name}: no rule")
    """,
    # a name compared with something that is not a string collection
    """
    def f(p, covered):
        return p.name not in covered
    """,
    # a declaration table iterated, never looked up; a table of other strings
    """
    UNARY = {"sin": 1, "cos": 2, "tan": 3, "exp": 4, "log": 5}
    for k, v in UNARY.items():
        pass
    _OPS = {"sum": 1, "prod": 2, "max": 3, "min": 4, "mean": 5}

    def f(op):
        return _OPS[op]
    """,
    # a string compared with a name that is no primitive's; strings that are none, or
    # too few primitive names to be a table of them
    """
    def f(dtype, target, op, name):
        return dtype.name == "float32" or target == "cuda" or op in ("max", "min") or \
            {"det": 1, "inv": 2, "solve": 3}[name] or name in ("abs", "sign")
    """,
])
def test_checker_passes_lookups_by_object_and_display_names(src):
    assert check_source(textwrap.dedent(src), NAMES) == []


def test_checker_follows_a_table_into_another_module():
    vmath = 'GUARDED = {"sin": 1, "cos": 2, "tan": 3, "exp": 4, "log": 5}\n'
    codegen = "def f(prim, vmath):\n    return vmath.GUARDED[prim]\n"
    assert tables_of(vmath, NAMES) == ({"GUARDED"}, {"GUARDED"})
    assert check_source(codegen, NAMES) == []
    assert len(check_source(codegen, NAMES, foreign_tables={"GUARDED"})) == 1
    # a name in a variable called prim, tested against another module's string keys
    vmath = 'GUARDED = {"sin": 1, "cos": 2}\n'
    codegen = "def f(prim, vmath):\n    return prim in vmath.GUARDED\n"
    assert tables_of(vmath, NAMES) == (set(), {"GUARDED"})
    assert len(check_source(codegen, NAMES, foreign_strs={"GUARDED"})) == 1


def test_checker_finds_the_lookups_this_repository_had(prim_names):
    # the shapes removed from gpuad/backends/cpu.py and gpuad/jit/rows.py
    src = '''
import numpy as np

_UFUNCS = {"neg": np.negative, "sin": np.sin, "cos": np.cos, "tan": np.tan, "exp": np.exp}
_QUIET = frozenset(["add", "sub", "mul", "neg", "sin"])
_POINTWISE_LIKE = {"astype", "conj", "stop_gradient"}


def elementwise(name, arrays):
    fn = _UFUNCS.get(name)
    if name in _QUIET:
        return fn(*arrays)


def rule(e):
    name = e.prim.name
    if name in _POINTWISE_LIKE:
        return True
    if name == "reshape":
        return False
'''
    found = check_source(src, prim_names)
    # .get of the table, `in _QUIET`, `in _POINTWISE_LIKE`, `== "reshape"`
    assert len(found) == 4, found


# -- the repository ---------------------------------------------------------------------

def test_no_rule_is_looked_up_by_name(prim_names):
    files = _sources()
    rel = {f.relative_to(ROOT).as_posix() for f in files}
    # the modules that hold rules are among those checked
    for must in ("gpuad/backends/cpu.py", "gpuad/backends/cudasim.py", "gpuad/jit/rows.py",
                 "gpuad/jit/fusion.py", "gpuad/jit/fold.py", "gpuad/ops/pointwise.py",
                 "kernels/target.py"):
        assert must in rel
    found = check_files(files, prim_names)
    assert found == [], "rules looked up by a primitive's name:\n" + "\n".join(found)


def registry_reads(src):
    """Lines that read the name -> primitive registry by key (``registry.get(name)``,
    ``registry[name]``); listing it (``registry.items()``) is not a lookup."""
    out = []
    for node in ast.walk(ast.parse(src)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("get", "__getitem__", "setdefault")
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "registry"):
            out.append(node.lineno)
        elif (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
                and isinstance(node.value, ast.Name) and node.value.id == "registry"):
            out.append(node.lineno)
    return out


def test_no_module_reads_the_registry_by_name():
    assert registry_reads("p = registry.get(name)\nq = registry['sin']\n") == [1, 2]
    assert registry_reads("for n, p in sorted(registry.items()):\n    pass\n") == []
    found = [f"{f.relative_to(ROOT)}:{line}" for f in _sources()
             if f.relative_to(ROOT).as_posix() != "gpuad/primitive.py"
             for line in registry_reads(f.read_text())]
    assert found == [], "the registry read by a primitive's name: " + ", ".join(found)


def test_eager_cpu_runs_the_function_the_primitive_declares(prim_names):
    """The cpu backend calls ``Primitive.numpy``: replacing it on the object changes
    what an eager op computes (nothing else maps the name to a function)."""
    import numpy as np

    import gpuad as ad
    from gpuad.ops.pointwise import sin_p
    x = ad.tensor(np.array([0.5, 1.0]))
    fn = sin_p.numpy
    try:
        sin_p.numpy = np.cos
        np.testing.assert_allclose(ad.sin(x).numpy(), np.cos([0.5, 1.0]))
    finally:
        sin_p.numpy = fn
    np.testing.assert_allclose(ad.sin(x).numpy(), np.sin([0.5, 1.0]))
