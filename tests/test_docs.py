"""Every ```python block of docs/*.md and README.md runs, each on its own.

A block opts out with a ``<!-- no-test -->`` line right before its opening fence (blank
lines between the two are allowed). Each block runs in a fresh namespace, in a temporary
working directory, with the default device and the random seed restored afterwards.
"""
import re
from pathlib import Path

import pytest

import gpuad as ad

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[^\n`]*)$")
OPT_OUT = "<!-- no-test -->"


def python_blocks(path):
    """``(line, source)`` of each ```python block of ``path`` that has not opted out."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, indent, start = m["lang"].strip().lower(), m["indent"], i
        body, i = [], i + 1
        while i < len(lines) and lines[i].strip() != "```":
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line)
            i += 1
        i += 1  # past the closing fence
        if lang not in ("python", "py", "python3"):
            continue
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        if j >= 0 and lines[j].strip() == OPT_OUT:
            continue
        blocks.append((start + 1, "\n".join(body) + "\n"))
    return blocks


def _doc_files():
    files = sorted((ROOT / "docs").glob("*.md"))
    if (ROOT / "README.md").exists():
        files.append(ROOT / "README.md")
    return files


CASES = [(path, line, src) for path in _doc_files() for line, src in python_blocks(path)]


def test_docs_have_python_blocks():
    assert (ROOT / "docs" / "transforms.md").exists()
    assert any(p.name == "transforms.md" for p, _, _ in CASES)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    device = ad.get_default_device()
    yield
    ad.set_default_device(device)


@pytest.mark.parametrize("path,line,src", CASES,
                         ids=[f"{p.relative_to(ROOT)}:{line}" for p, line, _ in CASES])
def test_python_block_runs(path, line, src, isolated):
    code = compile(src, f"{path.relative_to(ROOT)}:{line}", "exec")
    # line numbers in tracebacks point into the block; the test id says where it starts
    exec(code, {"__name__": "__docs__"})


def test_extractor(tmp_path):
    import textwrap
    text = textwrap.dedent("""\
        intro
        ```python
        a = 1
        ```
        <!-- no-test -->

        ```python
        this is skipped
        ```
        ```bash
        echo not python
        ```
        - item
          ```python
          b = 2
          ```
        """)
    p = tmp_path / "probe.md"
    p.write_text(text, encoding="utf-8")
    assert python_blocks(p) == [(2, "a = 1\n"), (14, "b = 2\n")]


def test_numpy_coverage_table_is_current():
    """docs/numpy.md carries the coverage table gpuad generates now (what NumPy calls on
    tensors dispatch to gpuad); gaining a function changes it."""
    import numpy as np
    from gpuad import numpy_dispatch
    doc = numpy_dispatch.doc_table(ROOT / "docs" / "numpy.md")
    if f"NumPy {np.__version__}:" not in doc:
        pytest.skip(f"docs/numpy.md's table was generated with another NumPy than {np.__version__}")
    assert doc == numpy_dispatch.coverage_table(), (
        "docs/numpy.md's NumPy coverage table is out of date: run "
        "`python -m gpuad.numpy_dispatch --coverage --update docs/numpy.md`")
    ufuncs, functions = numpy_dispatch.covered()
    assert f"{len(ufuncs) + len(functions)} of" in doc
