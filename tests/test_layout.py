"""The package's layout contracts: no import cycles, imports pointing down the layers only, the
engine alone, moved paths keep working.

The import graph is read from the sources with ``ast``: every ``import`` / ``from`` statement at any
depth (lazy imports inside functions included), relative imports resolved, plus
``importlib.import_module`` of a constant name.  Importing ``a.b.c`` also runs the ``__init__`` of
the packages ``a.b`` and ``a`` unless the importer is inside them (they are already running), so
those count as edges too.
"""

from __future__ import annotations

import ast
import importlib
import json
import pathlib
import subprocess
import sys

import pytest

import vrft_rewards

PACKAGE_DIR = pathlib.Path(vrft_rewards.__file__).resolve().parent


def _modules(package_dir: pathlib.Path) -> dict[str, tuple[pathlib.Path, bool]]:
    """``{dotted name: (path, is_package)}`` of every module under ``package_dir``."""
    out = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_package)
    return out


def _imported_names(name: str, is_package: bool, tree: ast.Module):
    """``(dotted target, line)`` of every import of a module's source, at any depth."""
    package = name if is_package else name.rpartition(".")[0]
    constants = {
        t.id: n.value.value
        for n in tree.body
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            yield target, node.lineno
            for alias in node.names:  # `from pkg import module` imports pkg.module
                yield f"{target}.{alias.name}", node.lineno
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            arg = node.args[0]
            if called == "import_module":
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    yield arg.value, node.lineno
                elif isinstance(arg, ast.Name) and arg.id in constants:
                    yield constants[arg.id], node.lineno


def import_graph(package_dir: pathlib.Path) -> dict[str, dict[str, int]]:
    """``{module: {imported module: first line}}`` within the package."""
    modules = _modules(package_dir)
    graph: dict[str, dict[str, int]] = {}
    for name, (path, is_package) in modules.items():
        edges: dict[str, int] = {}
        for target, line in _imported_names(name, is_package, ast.parse(path.read_text(), str(path))):
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix not in modules or prefix == name:
                    continue
                if (name + ".").startswith(prefix + "."):
                    continue  # an ancestor package of the importer: already running
                if i < len(parts) and not modules[prefix][1]:
                    continue  # `from module import name`: the name is not a module
                edges.setdefault(prefix, line)
        graph[name] = edges
    return graph


def import_cycles(graph: dict[str, dict[str, int]]) -> list[str]:
    """One readable cycle per strongly connected component of more than one module:
    ``"a -> b (line 3) -> a (line 9)"`` (the line of the import in the module before it)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    cycles = []
    for component in components:
        members = set(component)
        start = component[0]
        # Breadth-first from start inside the component back to start: a shortest cycle.
        parent: dict[str, str] = {}
        frontier = [start]
        found = None
        while frontier and found is None:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v]):
                    if w == start:
                        found = v
                        break
                    if w in members and w not in parent:
                        parent[w] = v
                        nxt.append(w)
                if found is not None:
                    break
            frontier = nxt
        path = [found]
        while path[-1] != start:
            path.append(parent[path[-1]])
        path.reverse()
        path.append(start)
        text = path[0]
        for a, b in zip(path, path[1:]):
            text += f" -> {b} (line {graph[a][b]})"
        cycles.append(text)
    return cycles


def test_no_import_cycles_in_the_package():
    cycles = import_cycles(import_graph(PACKAGE_DIR))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_cycle_check_finds_lazy_relative_and_dynamic_cycles(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .a import f\n")
    (pkg / "a.py").write_text("def f():\n    from .sub.b import g\n    return g()\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text(
        "import importlib\nNAME = 'pkg.c'\ndef g():\n    return importlib.import_module(NAME)\n"
    )
    (pkg / "c.py").write_text("from ..pkg import x\nfrom pkg.a import f\n")  # `..pkg`: pkg itself
    (pkg / "d.py").write_text("from . import a\n")  # not in a cycle: nothing imports d
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.sub.b": 2, "pkg.sub": 2}
    assert graph["pkg.sub.b"] == {"pkg.c": 4}
    assert graph["pkg.d"] == {"pkg.a": 1}
    assert import_cycles(graph) == ["pkg.a -> pkg.sub.b (line 2) -> pkg.c (line 4) -> pkg.a (line 2)"]
    (pkg / "c.py").write_text("X = 1\n")
    assert import_cycles(import_graph(pkg)) == []


# Levels of the package, bottom up (by the first name under vrft_rewards): a module imports only
# from its own level and those below it.
LEVELS = [
    ("primitives", None),  # everything not named below: geometry, matching, parsing, masks, helpers
    ("engine", {"cocoeval"}),
    ("rewards", {"rewards"}),
    ("pipeline", {"eval"}),
    ("trainers", {"integrations", "serve", "distributed", "score"}),
    ("commands", {"cli", "demo", "__main__"}),
]


def _level(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    return next((i for i, (_, names) in enumerate(LEVELS) if names and top in names), 0)


def test_imports_point_down_the_layers_only():
    graph = import_graph(PACKAGE_DIR)
    upward = [
        f"{a} ({LEVELS[_level(a)][0]}) -> {b} ({LEVELS[_level(b)][0]}), line {line}"
        for a, edges in sorted(graph.items())
        for b, line in sorted(edges.items())
        if _level(b) > _level(a)
    ]
    assert not upward, "imports pointing up:\n" + "\n".join(upward)


def _reachable(graph: dict[str, dict[str, int]], start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for w in graph[todo.pop()]:
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def _outside_the_engine(names) -> list[str]:
    return sorted(n for n in names if n.split(".")[1:2] and n.split(".")[1] in ("eval", "rewards", "integrations"))


def test_the_engine_imports_nothing_of_the_pipeline_rewards_or_integrations():
    graph = import_graph(PACKAGE_DIR)
    engine = [m for m in graph if m == "vrft_rewards.cocoeval" or m.startswith("vrft_rewards.cocoeval.")]
    reached = set().union(*(_reachable(graph, m) for m in engine))
    assert _outside_the_engine(reached) == []
    # ... and at run time, in a fresh interpreter.
    code = (
        "import json, sys, vrft_rewards.cocoeval; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('vrft_rewards'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=PACKAGE_DIR.parent, check=True
    )
    loaded = json.loads(out.stdout)
    assert "vrft_rewards.cocoeval.coco" in loaded
    assert _outside_the_engine(loaded) == []


# (old public path, name, new home): modules moved by the restructuring (issue 12) re-export
# their public names from the old path.
MOVED = [
    ("vrft_rewards.eval", "evaluate_coco", "vrft_rewards.cocoeval.coco"),
    ("vrft_rewards.eval", "evaluate_lvis", "vrft_rewards.cocoeval.lvis"),
    ("vrft_rewards.eval", "COCOeval", "vrft_rewards.cocoeval.coco"),
    ("vrft_rewards.eval", "LVISeval", "vrft_rewards.cocoeval.lvis"),
    ("vrft_rewards.eval", "GroundTruth", "vrft_rewards.cocoeval.ground_truth"),
    ("vrft_rewards.eval", "Detections", "vrft_rewards.cocoeval.detections"),
    ("vrft_rewards.eval", "EvalResult", "vrft_rewards.cocoeval.result"),
    ("vrft_rewards.eval.coco", "evaluate_coco", "vrft_rewards.cocoeval.coco"),
    ("vrft_rewards.eval.coco", "COCOeval", "vrft_rewards.cocoeval.coco"),
    ("vrft_rewards.eval.coco", "Params", "vrft_rewards.cocoeval.params"),
    ("vrft_rewards.eval.lvis", "evaluate_lvis", "vrft_rewards.cocoeval.lvis"),
    ("vrft_rewards.eval.lvis", "LVISeval", "vrft_rewards.cocoeval.lvis"),
    ("vrft_rewards.eval.lvis", "LVISParams", "vrft_rewards.cocoeval.params"),
    ("vrft_rewards.eval.sharded", "ray_matcher", "vrft_rewards.cocoeval.sharding"),
    ("vrft_rewards.eval.sharded", "convert_records_ray", "vrft_rewards.eval.detection_batch"),
    ("vrft_rewards.eval.sharded", "evaluate_detection_ray", "vrft_rewards.eval.detection"),
    ("vrft_rewards.eval.detection", "detections_from_records", "vrft_rewards.eval.detection_batch"),
    ("vrft_rewards.eval.detection", "DetectionBatch", "vrft_rewards.eval.detection_batch"),
    ("vrft_rewards.eval.detection", "convert_chunk", "vrft_rewards.eval.detection_batch"),
    ("vrft_rewards.eval.detection", "prepare_records", "vrft_rewards.eval.detection_table"),
    ("vrft_rewards.eval.grounding", "mask_set", "vrft_rewards.masks"),
    ("vrft_rewards.eval.grounding", "mask_intersection_union", "vrft_rewards.masks"),
    ("vrft_rewards.serve", "serve", "vrft_rewards.integrations.server"),
    ("vrft_rewards.serve", "make_server", "vrft_rewards.integrations.server"),
    ("vrft_rewards.serve", "RewardServer", "vrft_rewards.integrations.server"),
    ("vrft_rewards.serve", "DEFAULT_MAX_BODY_BYTES", "vrft_rewards.integrations.server"),
    ("vrft_rewards.distributed", "shard_bounds", "vrft_rewards._ray"),
    ("vrft_rewards.parsing", "boxes_to_pixels", "vrft_rewards.frames"),
    ("vrft_rewards.matching", "MatchResult", "vrft_rewards._batch_results"),
    ("vrft_rewards.matching", "BatchedAssignment", "vrft_rewards._batch_results"),
]


@pytest.mark.parametrize("old, name, new", MOVED, ids=[f"{o}.{n}" for o, n, _ in MOVED])
def test_moved_names_keep_their_import_path(old, name, new):
    assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)


def test_eval_keeps_exporting_every_name_it_exported():
    import vrft_rewards.eval as ve

    before = {
        "CATEGORY_SETS",
        "COCOeval",
        "CategoryMapper",
        "DetectionBatch",
        "EvalReport",
        "RecordError",
        "SkipLog",
        "detections_from_records",
        "evaluate_classification",
        "evaluate_detection",
        "evaluate_detection_ray",
        "evaluate_grounding",
        "normalize_category_name",
        "parse_statistics",
        "write_report",
        "Detections",
        "EvalResult",
        "GroundTruth",
        "LVISeval",
        "evaluate_coco",
        "evaluate_lvis",
    }
    assert before <= set(ve.__all__)
    for name in ve.__all__:
        assert hasattr(ve, name), name
