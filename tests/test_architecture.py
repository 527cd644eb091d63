"""The package's structure: no import cycles (none hidden in function bodies), a leaf ``config``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import l2i_core

PACKAGE = Path(l2i_core.__file__).parent


def _module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """Absolute l2i module names an ``ImportFrom`` node refers to (its module and any imported submodule)."""
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    return [target] + [f"{target}.{a.name}" for a in node.names]


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Every module of ``package`` -> the modules of it that it imports anywhere (top level or in a function)."""
    files = {_module_name(p, package): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom):
                candidates = _resolve(name, path.name == "__init__.py", node)
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                continue
            edges |= {c for c in candidates if c in files and c != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a list of modules, or None (iterative depth-first search)."""
    state: dict[str, int] = {}
    for root in sorted(graph):
        if state.get(root):
            continue
        stack = [(root, iter(sorted(graph[root])))]
        path = [root]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                return path[path.index(child):] + [child]
            elif not state.get(child):
                state[child] = 1
                stack.append((child, iter(sorted(graph[child]))))
                path.append(child)
    return None


def test_find_cycle_sees_a_cycle_and_its_absence():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_graph_sees_a_cycle_hidden_in_a_function_body(tmp_path):
    pkg = tmp_path / "toy"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..a import g\n    return g\n")
    graph = import_graph(pkg)
    assert graph["toy.a"] == {"toy.sub", "toy.sub.b"}
    assert graph["toy.sub.b"] == {"toy.a"}
    assert find_cycle(graph) == ["toy.a", "toy.sub.b", "toy.a"]


def test_no_import_cycle_in_l2i_core():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_config_is_a_leaf():
    graph = import_graph()
    assert graph["l2i_core.config"] <= {"l2i_core._errors"}, graph["l2i_core.config"]
    # importing it pulls in no other l2i module (the package __init__ and _errors aside)
    code = ("import sys, l2i_core.config; "
            "print(sorted(m for m in sys.modules if m.startswith('l2i_core')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(eval(out))  # a printed list of module names
    allowed = {"l2i_core", "l2i_core.config", "l2i_core._errors", "l2i_core._version"}
    assert loaded <= allowed, loaded - allowed


# -- layers: a folder imports only from the folders below it ------------------------------------------
#: Rank of each folder of l2i_core, bottom up (DESIGN §3): the leaf modules (config, paper, metrics,
#: _errors, _utils, ...) → audio → data → nmf, models → train, explain → evaluate, report → pipeline.
#: Siblings share a rank and never import each other (explaining never imports training code).
LAYERS = {"": 0, "audio": 1, "data": 2, "nmf": 3, "models": 3, "train": 4, "explain": 4, "evaluate": 5,
          "report": 5, "pipeline": 6, "__main__": 7}


def folder_of(module: str) -> str:
    """``l2i_core.explain.l2i`` → ``explain``; a top-level leaf module (or the package) → ``""``."""
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in LAYERS and (len(parts) > 2 or (PACKAGE / parts[1]).is_dir()
                                                   or parts[1] == "__main__"):
        return parts[1]
    return ""


def layer_violations(graph: dict[str, set[str]], layers: dict[str, int] = LAYERS, folder=folder_of) -> list[str]:
    """Every import that does not go strictly down the layers (same folder excepted)."""
    bad = []
    for a, deps in graph.items():
        fa = folder(a)
        for b in deps:
            fb = folder(b)
            if fa != fb and not layers[fb] < layers[fa]:
                bad.append(f"{a} ({fa or 'leaf'}, layer {layers[fa]}) imports {b} ({fb or 'leaf'}, layer {layers[fb]})")
    return sorted(bad)


def longest_chain(graph: dict[str, set[str]], folder=folder_of) -> list[str]:
    """The longest chain of folders linked by imports (the folder graph has no cycle when the layers hold)."""
    edges: dict[str, set[str]] = {}
    for a, deps in graph.items():
        edges.setdefault(folder(a), set()).update(folder(b) for b in deps if folder(b) != folder(a))
    memo: dict[str, list[str]] = {}

    def chain(f: str) -> list[str]:
        if f not in memo:
            memo[f] = [f] + max((chain(g) for g in edges.get(f, ())), key=len, default=[])
        return memo[f]

    return max((chain(f) for f in edges), key=len)


def test_layer_rule_sees_an_import_upwards_and_between_siblings():
    folder = lambda m: m.split(".")[1] if "." in m else ""  # noqa: E731
    layers = {"": 0, "low": 1, "a": 2, "b": 2, "top": 3}
    graph = {"p.low.x": set(), "p.a.x": {"p.low.x"}, "p.b.x": {"p.a.x"}, "p.top.x": {"p.a.x", "p.b.x"}}
    assert layer_violations(graph, layers, folder) == ["p.b.x (b, layer 2) imports p.a.x (a, layer 2)"]
    graph["p.low.x"] = {"p.top.x"}
    assert len(layer_violations(graph, layers, folder)) == 2
    assert longest_chain({"p.top.x": {"p.a.x"}, "p.a.x": {"p.low.x"}, "p.low.x": set()}, folder) == ["top", "a", "low"]


def test_every_folder_imports_only_from_folders_below_it():
    assert layer_violations(import_graph()) == []


def test_folders_and_layers_stay_few():
    folders = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
    assert set(folders) <= set(LAYERS) and len(folders) <= 10, folders
    chain = longest_chain(import_graph())
    assert len(chain) <= 8, chain


def test_every_folder_re_exports_its_public_names():
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        tree = ast.parse(init.read_text())
        names = next((n for n in tree.body if isinstance(n, ast.Assign)
                      and any(getattr(t, "id", None) == "__all__" for t in n.targets)), None)
        assert names is not None, f"{init}: no __all__"
        exported = {e.value for e in names.value.elts}
        for path in init.parent.glob("[!_]*.py"):
            mod = ast.parse(path.read_text())
            own = next((n for n in mod.body if isinstance(n, ast.Assign)
                        and any(getattr(t, "id", None) == "__all__" for t in n.targets)), None)
            assert own is not None, f"{path}: no __all__"
            missing = {e.value for e in own.value.elts} - exported
            assert not missing, f"{init.parent.name}/__init__ does not re-export {sorted(missing)} of {path.name}"


def test_no_private_name_is_imported_across_modules():
    """``from l2i_core.x import _name`` inside the package: a private name used as another module's API."""
    files = {_module_name(p, PACKAGE): p for p in PACKAGE.rglob("*.py")}
    bad = []
    for name, path in files.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("l2i_core"):
                bad += [f"{name} imports {node.module}.{a.name}" for a in node.names
                        if a.name.startswith("_") and a.name != "__version__" and node.module != name]
    assert bad == [], bad


def test_no_module_imports_its_own_folders_init():
    """Inside a folder, modules import each other directly: through the folder's ``__init__`` the
    import graph would have a cycle (the ``__init__`` imports every module of the folder)."""
    graph = import_graph()
    bad = [f"{a} imports {b}" for a, deps in graph.items() for b in deps
           if b.count(".") == 1 and folder_of(b) and folder_of(a) == folder_of(b) and not a.endswith("__init__")]
    assert bad == [], bad
