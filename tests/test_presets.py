"""A preset is resolved once, at the edges (the rule in :mod:`l2i_core.config`'s docstring).

* statically (``ast``): :func:`~l2i_core.config.get_preset` is called only in the functions of
  :data:`PRESET_EDGES`, each of which accepts a name and resolves it once;
* dynamically: every ``l2i`` step command, run in this process on a toy dataset, looks the name of
  ``--preset`` up once (in ``run_config``), and every later call of ``get_preset`` receives that very
  ``Preset`` object back from the layer above (or a name read from a checkpoint's sidecar).
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import pkgutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import l2i_core
from l2i_core._errors import ParameterError
from l2i_core.config import PRESETS, Preset, get_preset
from l2i_core.data import AudioDataset, Record
from l2i_core.pipeline.run import RunConfig, run_config

PACKAGE = Path(l2i_core.__file__).parent

#: The edges: every function of the package that may call ``get_preset`` (module -> qualified names).
#: Each accepts a name (``str | Preset``) from a user, the command line or a checkpoint's sidecar and
#: resolves it once, at its top; everything below takes a ``Preset``.
PRESET_EDGES: dict[str, set[str]] = {
    "l2i_core.pipeline.run": {"run_config"},  # --preset of the l2i command and the notebooks' parameter
    "l2i_core.audio.frontend": {"FrontEnd.__init__"},
    "l2i_core.models.classifier": {"AudioCNN.__init__"},  # also load_classifier, with the sidecar's name
    "l2i_core.models.pretrained": {"BackboneClassifier._setup"},
    "l2i_core.data.records": {"AudioDataset.load", "AudioDataset.load_batch", "AudioDataset.load_stems"},
    "l2i_core.nmf.dictionary": {"Dictionary.spectral_centroids", "listen_to_atoms", "gather_frames", "learn_dictionary",
                                "save_dictionary", "load_dictionary"},
    "l2i_core.train.recipes": {"default_train_config", "compute_features", "train_classifier"},
    "l2i_core.train.cache": {"build_cache", "cache_bytes_per_clip"},
    "l2i_core.train.finetune": {"finetune_pretrained"},
    "l2i_core.train.lmac": {"train_lmac"},
    # explaining and plotting, called by users with a name
    "l2i_core.explain.interface": {"AudioModel.__init__"},  # f's side of every explainer
    "l2i_core.explain.lmac": {"lmac_attribute"},
    "l2i_core.explain.gradients": {"gradient_attribution", "mel_to_linear", "gradient_interpretation"},
    "l2i_core.report.players": {"example_players", "stem_players"},
    "l2i_core.report.plots": {"specshow", "plot_atoms", "plot_activations", "plot_interpretation",
                              "plot_explanation_masks"},
    "l2i_core.report.widgets": {"ListeningLab.__init__", "plot_activation_rows", "gallery"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _calls_of_get_preset(node, module: str, names: list[str], func, out: list) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            _calls_of_get_preset(child, module, [*names, child.name],
                                 func if isinstance(child, ast.ClassDef) else child, out)
            continue
        if isinstance(child, ast.Call) and getattr(child.func, "id", getattr(child.func, "attr", None)) == "get_preset":
            out.append((module, ".".join(names), child, func))
        _calls_of_get_preset(child, module, names, func, out)


def get_preset_sites(package: Path = PACKAGE) -> list[tuple[str, str, ast.Call, ast.AST | None]]:
    """Every call of ``get_preset`` in ``package``: (module, qualified name of the enclosing function,
    the call, the function node or None at module level)."""
    sites: list = []
    for path in sorted(package.rglob("*.py")):
        _calls_of_get_preset(ast.parse(path.read_text()), _module_name(path), [], None, sites)
    return sites


def _name_parameters(func) -> set[str]:
    """Parameters of ``func`` that accept a preset name: annotated with ``str`` (``str | Preset``)."""
    args = func.args
    return {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]
            if a.annotation is not None and "str" in ast.unparse(a.annotation).replace("|", " ").split()}


def test_get_preset_is_called_only_at_the_edges():
    found: dict[str, set[str]] = {}
    for module, qualname, _, _ in get_preset_sites():
        if module != "l2i_core.config":  # its definition and docstring
            found.setdefault(module, set()).add(qualname)
    unlisted = sorted(f"{m}.{q}" for m, qs in found.items() for q in qs - PRESET_EDGES.get(m, set()))
    stale = sorted(f"{m}.{q}" for m, qs in PRESET_EDGES.items() for q in qs - found.get(m, set()))
    assert not unlisted, ("get_preset called below the edges (take a Preset there, resolved by the caller), "
                          f"or add a new edge to PRESET_EDGES: {unlisted}")
    assert not stale, f"listed in PRESET_EDGES but no longer resolving a preset (remove them): {stale}"


def test_every_edge_accepts_a_name_and_resolves_it_once_at_its_top_level():
    per_function = Counter()
    for module, qualname, call, func in get_preset_sites():
        if module == "l2i_core.config":
            continue
        where = f"{module}.{qualname}"
        assert func is not None, f"{where}: get_preset at import time"
        accepts = _name_parameters(func)
        used = {n.id for a in call.args for n in ast.walk(a) if isinstance(n, ast.Name)}
        assert used & accepts, (f"{where} resolves {ast.unparse(call)} but none of its parameters accepts a "
                                "name (annotate it `str | Preset`, or take a Preset and drop the call)")
        loops = [n for n in ast.walk(func) if isinstance(n, (ast.For, ast.While, ast.comprehension))
                 and any(c is call for c in ast.walk(n))]
        assert not loops, f"{where} resolves a preset inside a loop"
        per_function[where] += 1
    assert max(per_function.values()) == 1, [w for w, n in per_function.items() if n > 1]


def test_functions_typed_preset_never_resolve():
    """Below the edges a preset parameter is annotated ``Preset`` (no ``str``): those never call get_preset."""
    edges = {(m, q) for m, q, _, _ in get_preset_sites()}
    internal = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
                    if a.annotation is not None and ast.unparse(a.annotation) == "Preset":
                        internal.append((module, node.name))
    assert ("l2i_core.models.lmac", "freq_positions") in internal and ("l2i_core.nmf.dictionary", "_clip_frames") in internal
    resolving = [f"{m}.{n}" for m, n in internal if any(em == m and eq.split(".")[-1] == n for em, eq in edges)]
    assert not resolving, resolving


def test_run_config_resolves_once_and_run_config_holds_a_preset(tmp_path):
    cfg = run_config(dataset="esc10", preset=" CPU ", artifacts_dir=tmp_path)
    assert cfg.preset is PRESETS["cpu"]
    custom = PRESETS["cpu"].replace(n_mels=32)
    assert run_config(dataset="esc10", preset=custom, artifacts_dir=tmp_path).preset is custom
    with pytest.raises(ParameterError, match="unknown preset"):
        run_config(dataset="esc10", preset="gpu")
    with pytest.raises(ParameterError, match="must be a Preset"):
        RunConfig(dataset="esc10", data_dir=None, preset="cpu", seed=0, quick=True, artifacts_dir=tmp_path)


# -- the l2i command, counted ------------------------------------------------------------------------


def _toy_dataset(n: int = 4) -> AudioDataset:
    rng = np.random.default_rng(0)
    t = np.arange(8000) / 8000
    recs = []
    for split, count in (("train", n), ("validation", n // 2), ("test", n // 2)):
        for i in range(count):
            c = ("low", "high")[i % 2]
            y = np.sin(2 * np.pi * (300 if c == "low" else 2500) * t) + 0.05 * rng.standard_normal(8000)
            recs.append(Record(uid=f"{split}{i}", labels=(c,), split=split, waveform=y.astype(np.float32), sr=8000))
    return AudioDataset("esc10", recs, ["low", "high"], duration=1.0)


@pytest.fixture
def counted(monkeypatch):
    """Replace ``get_preset`` in every module of the package by a wrapper that records each call:
    its argument, the preset returned, and the package's functions on the stack (innermost first)."""
    for m in pkgutil.walk_packages(l2i_core.__path__, "l2i_core."):
        importlib.import_module(m.name)
    calls = []

    def recording(preset):
        stack, f = [], sys._getframe(1)
        while f is not None:
            if f.f_globals.get("__name__", "").startswith("l2i_core"):
                stack.append(f"{f.f_globals['__name__']}.{f.f_code.co_qualname}")
            f = f.f_back
        out = get_preset(preset)
        calls.append((preset, out, stack))
        return out

    for name, mod in list(sys.modules.items()):
        if name.startswith("l2i_core") and getattr(mod, "get_preset", None) is get_preset:
            monkeypatch.setattr(mod, "get_preset", recording)
    return calls


def test_a_batch_looks_its_preset_up_once_not_per_clip(counted):
    ds = _toy_dataset(6)
    assert ds.load_batch(None, "cpu").shape == (12, 22050)
    assert [preset for preset, _, _ in counted] == ["cpu"]
    counted.clear()
    ds.load_batch([0, 1], PRESETS["cpu"])
    assert [preset for preset, _, _ in counted] == [PRESETS["cpu"]]


@pytest.mark.slow
def test_the_l2i_steps_resolve_the_preset_once(counted, monkeypatch, tmp_path):
    from l2i_core.pipeline.cli import main

    monkeypatch.setattr(RunConfig, "load_dataset", lambda self, **kw: _toy_dataset())
    common = ["--dataset", "esc10", "--preset", "cpu", "--quick", "--artifacts-dir", str(tmp_path), "--device", "cpu"]
    commands = [["learn-dictionary", "--max-iter", "2"], ["train-classifier", "--epochs", "1"],
                ["build-cache", "--splits", "train"], ["train-interpreter", "--pooling", "attention", "--epochs", "1"],
                ["train-lmac", "--epochs", "1"], ["evaluate", "--pooling", "attention"]]
    counts = {}
    for cmd, *options in commands:
        counted.clear()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert main([cmd, *common, *options]) == 0
        names = [stack for preset, _, stack in counted if isinstance(preset, str)]
        from_command_line = [s for s in names if s[0] == "l2i_core.pipeline.run.run_config"]
        from_sidecars = [s for s in names if "l2i_core.models.checkpoints.load_classifier" in s]
        # the name of --preset is looked up once; later names only where a checkpoint's sidecar is read
        assert len(from_command_line) == 1 and len(from_command_line) + len(from_sidecars) == len(names), (cmd, names)
        # every other call is handed the object resolved above it (a pass-through), and all are the one preset
        assert all(isinstance(preset, Preset) for preset, _, _ in counted if not isinstance(preset, str))
        assert all(out is PRESETS["cpu"] for _, out, _ in counted), cmd
        # only the edges call it (a direct caller that is not an edge would be an internal resolution)
        callers = {stack[0] for _, _, stack in counted}
        edges = {f"{m}.{q}" for m, qs in PRESET_EDGES.items() for q in qs}
        assert callers <= edges, (cmd, callers - edges)
        counts[cmd] = len(counted)
    assert all(counts.values()), counts
