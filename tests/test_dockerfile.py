"""The Dockerfile against pyproject.toml and the README (Docker itself cannot run here)."""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _instructions():
    """Dockerfile instructions as (KEYWORD, argument) with continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        kw, _, arg = line.partition(" ")
        out.append((kw.upper(), arg.strip()))
    return out


def test_base_image_is_cuda_runtime():
    froms = [a for k, a in _instructions() if k == "FROM"]
    assert len(froms) >= 1
    assert re.fullmatch(r"nvidia/cuda:12\.\d+(\.\d+)?-(cudnn-)?runtime-ubuntu22\.04", froms[-1]), \
        froms[-1]


def test_installed_extras_exist_in_pyproject():
    extras_declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    runs = " ".join(a for k, a in _instructions() if k == "RUN")
    installs = re.findall(r"pip install [^&;]*?[\"']?\.\[([\w,\-]+)\][\"']?", runs)
    assert installs, "the Dockerfile must pip install gpuad with an extra"
    extras = {e for group in installs for e in group.split(",")}
    assert extras <= set(extras_declared), extras - set(extras_declared)
    # The CUDA extra must match the base image's CUDA major version.
    assert "cuda12" in extras
    assert any("cupy-cuda12x" in d for d in extras_declared["cuda12"])


def test_runs_as_non_root_user():
    ins = _instructions()
    users = [(i, a) for i, (k, a) in enumerate(ins) if k == "USER"]
    assert users, "no USER instruction: the container would run as root"
    idx, user = users[-1]
    assert user.split(":")[0] not in ("root", "0")
    cmd_idx = max(i for i, (k, _) in enumerate(ins) if k == "CMD")
    assert idx < cmd_idx


def test_default_command_is_the_demo_on_the_gpu():
    cmds = [a for k, a in _instructions() if k == "CMD"]
    assert cmds
    cmd = json.loads(cmds[-1])  # exec form
    assert cmd[:2] == ["gpuad", "demo"], cmd
    env = " ".join(a for k, a in _instructions() if k == "ENV")
    assert ("--device" in cmd and cmd[cmd.index("--device") + 1] == "cuda") \
        or "GPUAD_DEVICE=cuda" in env
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "gpuad" in scripts


def test_copied_paths_exist():
    for k, a in _instructions():
        if k == "COPY":
            for src in a.split()[:-1]:
                if not src.startswith("--"):
                    assert (ROOT / src).exists(), src


def test_readme_says_how_to_build_and_run():
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md does not exist yet")
    text = readme.read_text()
    assert "docker build" in text
    assert "--gpus all" in text
