"""The core's import structure: no Qt, pyqtgraph or app (import-linter contracts in pyproject.toml), no cycles."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contract_holds() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    proc = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 2 kept, 0 broken" in proc.stdout


def test_core_imports_without_qt() -> None:
    code = (
        "import sys, inspection_core.cli, inspection_core.inspector, inspection_core.models, "
        "inspection_core.camera, inspection_core.recipe;"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('PySide6','pyqtgraph','app','shiboken6')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_core_has_no_import_cycles() -> None:
    """Every strongly connected component of the core's import graph is one module: no two modules
    import each other, directly or round a loop (imports under TYPE_CHECKING do not run, so they do
    not count; lazy imports inside functions do)."""
    import grimp
    import networkx as nx

    graph = grimp.build_graph("inspection_core", cache_dir=None, exclude_type_checking_imports=True)
    g = nx.DiGraph()
    g.add_nodes_from(graph.modules)
    g.add_edges_from((m, i) for m in graph.modules for i in graph.find_modules_directly_imported_by(m))
    cycles = []
    for component in nx.strongly_connected_components(g):
        if len(component) > 1:
            loop = [a for a, _ in nx.find_cycle(g.subgraph(component))]
            cycles.append(f"{' → '.join([*loop, loop[0]])}  (component: {', '.join(sorted(component))})")
    assert not cycles, "import cycles in inspection_core:\n" + "\n".join(sorted(cycles))
