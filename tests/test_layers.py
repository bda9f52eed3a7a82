"""The package is layered: no module imports, at its top or inside a function, a module that imports it back
(directly or through others). The units are the top-level modules and the subpackages (data, metrics, models,
train, figures, schemas) taken whole."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "spurcomp"


def unit(module: str) -> str:
    """``spurcomp.figures.fig3`` -> ``figures``; ``spurcomp.claims`` -> ``claims``."""
    return module.split(".")[1] if module.count(".") else module


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(("spurcomp", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        found = graph.setdefault(unit(name), set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("spurcomp"):
                targets = [node.module] if node.module != "spurcomp" else [f"spurcomp.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("spurcomp.")]
            else:
                continue
            found.update(unit(target) for target in targets if unit(target) != unit(name))
    return graph


def test_no_import_climbs_back_up():
    graph = import_graph()
    assert {"figures", "claims", "tables", "study", "runtime"} <= set(graph)
    cycles, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles
    # the two that used to climb: the claims and the tables never import the figures
    assert "figures" not in graph["claims"] and "figures" not in graph["tables"]


def test_no_module_imports_a_private_name_of_another():
    """A name starting with _ belongs to its module: the vectorised engine, say, uses the one-run engine's public
    per-run bookkeeping, not its internals."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("spurcomp"):
                found += [f"{path.relative_to(PACKAGE)}: {node.module}.{a.name}" for a in node.names
                          if a.name.startswith("_")]
    assert not found, found


def test_no_function_runs_over_sixty_lines():
    """Long functions hide several steps in one: each step gets a name of its own (docstring included)."""
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} "
                            f"({node.end_lineno - node.lineno + 1} lines)")
    assert not long, long


def test_layout_modules_share_drawing_through_draw_only():
    """A drawing block two figures use lives in figures/_draw.py; a layout module may read another's variables and
    claims (Fig. 11 is Fig. 10's variables on ImageNet), never its drawing."""
    shared = []
    for path in sorted((PACKAGE / "figures").glob("fig*.py")) + sorted((PACKAGE / "figures").glob("prop*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("spurcomp.figures.") \
                    and node.module != "spurcomp.figures._draw":
                shared += [f"{path.name}: {node.module}.{a.name}" for a in node.names
                           if a.name != "METRICS" and not a.name.endswith("claims")]
    assert not shared, shared
