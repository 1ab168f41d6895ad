"""The shipped type stubs cover every name the compiled modules export."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import vrft_rewards
from vrft_rewards import _C
from vrft_rewards._ext import cuda_module

PACKAGE_DIR = Path(vrft_rewards.__file__).parent


def _stub_names(stub: Path) -> set[str]:
    tree = ast.parse(stub.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _public_names(module) -> set[str]:
    return {n for n in dir(module) if not n.startswith("_")}


def test_cpu_stub_covers_every_compiled_name():
    stub = PACKAGE_DIR / "_C.pyi"
    missing = _public_names(_C) - _stub_names(stub)
    assert not missing, f"regenerate stubs with tools/gen_stubs.sh; missing: {sorted(missing)}"


def test_cuda_stub_covers_every_compiled_name():
    mod = cuda_module()
    if mod is None:
        pytest.skip("_C_cuda was not built here")
    stub = PACKAGE_DIR / "_C_cuda.pyi"
    missing = _public_names(mod) - _stub_names(stub)
    assert not missing, f"regenerate stubs with tools/gen_stubs.sh; missing: {sorted(missing)}"
