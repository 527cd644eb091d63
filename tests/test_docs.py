"""The docs name real code: docs/method.md's references resolve, docs/architecture.md names every module of
l2i_core (and only real ones), the README links both, and the README's "Interpret your own model" example runs."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "l2i_core"
METHOD = ROOT / "docs" / "method.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
README = ROOT / "README.md"

#: Modules of the flat layout that are no module anywhere now (the others live on as a module of a folder,
#: e.g. ``masks`` as ``audio.masks``): a reference starting with one is stale, never silently skipped.
OLD_FLAT = ("explainers", "baselines", "evaluation", "training", "benchmark", "display", "reports")
#: ``dictionary.npy``, ``results.json``, ``eval.py``: file names, not references.
FILE_SUFFIXES = ("npy", "json", "pt", "py", "csv", "wav", "ipynb", "html", "md", "txt")


def _roots() -> set[str]:
    """The top-level modules and folders of l2i_core: what a reference may start with."""
    return ({p.stem for p in PKG.glob("*.py") if p.stem != "__init__"}
            | {p.name for p in PKG.iterdir() if (p / "__init__.py").is_file()})


def _modules() -> list[str]:
    """Every module of l2i_core, dotted (``l2i_core``, ``l2i_core.nmf``, ``l2i_core.nmf.sparse_nmf``, ...)."""
    out = []
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(out)


def _inner_modules() -> dict[str, list[str]]:
    """Module name inside a folder → its full references (``masks`` → ``['audio.masks']``)."""
    out: dict[str, list[str]] = {}
    for m in _modules():
        parts = m.split(".")
        if len(parts) == 3:
            out.setdefault(parts[2], []).append(".".join(parts[1:]))
    return out


def _references(text: str) -> list[str]:
    """Backticked ``module.name[.attr]`` references to l2i code, without the ``l2i_core.`` prefix.

    A reference counts when its first part is a top-level module or folder of l2i_core (``metrics.si_sdr``,
    ``nmf.sparse_nmf.SparseNMF``, ``nmf.SparseNMF``), and also when it is the short name of a module inside
    a folder (``masks.mask_to_audio``) or a module of the old flat layout (``explainers.Explanation``), so
    that a stale reference fails instead of being skipped. File names (``dictionary.npy``) do not count.
    """
    out = []
    known = _roots() | set(_inner_modules()) | set(OLD_FLAT)
    for ref in re.findall(r"`((?:l2i_core\.)?[a-z_]+(?:\.[A-Za-z_]\w*)+)`", text):
        ref = ref.removeprefix("l2i_core.")
        if ref.split(".")[0] in known and ref.split(".")[-1] not in FILE_SUFFIXES:
            out.append(ref)
    return sorted(set(out))


def _resolve(ref: str):
    """The object ``l2i_core.<ref>`` names (a module, or an attribute of its longest module prefix), or None."""
    parts = ref.removeprefix("l2i_core.").split(".")
    i = next(i for i in range(len(parts), -1, -1)  # 0: the package itself (its lazy flagship names)
             if i == 0 or PKG.joinpath(*parts[:i]).with_suffix(".py").is_file()
             or (PKG.joinpath(*parts[:i]) / "__init__.py").is_file())
    return _walk(importlib.import_module(".".join(["l2i_core", *parts[:i]])), parts[i:])


_MISSING = object()


def _walk(obj, attrs):
    """``obj.a.b...``, or None where an attribute is missing (a dataclass field without a default counts)."""
    for a in attrs:
        fields = getattr(obj, "__dataclass_fields__", {})
        obj = getattr(obj, a, _MISSING)
        if obj is _MISSING:
            if a not in fields:
                return None
            obj = fields[a]
    return obj


def _hint(ref: str) -> str:
    first = ref.split(".")[0]
    where = _inner_modules().get(first)
    return f"; under the folders it is {' or '.join(where)}" if where else ""


def _class_references(text: str) -> list[str]:
    """Backticked ``Class.attr`` references (``FrontEnd.istft``, ``SparseNMF._solve``)."""
    return sorted(set(re.findall(r"`([A-Z]\w*(?:\.[A-Za-z_]\w*)+)`", text)))


def _public_classes() -> dict[str, object]:
    """Every class defined in l2i_core, by name (imports every module)."""
    out = {}
    for m in _modules():
        mod = importlib.import_module(m)
        for name, obj in vars(mod).items():
            if isinstance(obj, type) and getattr(obj, "__module__", "").startswith("l2i_core"):
                out.setdefault(name, obj)
    return out


def test_references_are_found_and_resolved():
    text = ("`nmf.SparseNMF`, `nmf.sparse_nmf.SparseNMF`, `l2i_core.metrics.si_sdr`, `numpy.sum`, `not_a_module.x`, "
            "`masks.mask_to_audio`, `explainers.Explanation`, `dictionary.npy`")
    assert _references(text) == ["explainers.Explanation", "masks.mask_to_audio", "metrics.si_sdr", "nmf.SparseNMF",
                                 "nmf.sparse_nmf.SparseNMF"]
    from l2i_core.nmf.sparse_nmf import SparseNMF

    assert _resolve("nmf.SparseNMF") is SparseNMF and _resolve("nmf.sparse_nmf.SparseNMF") is SparseNMF
    assert _resolve("nmf.sparse_nmf") is importlib.import_module("l2i_core.nmf.sparse_nmf")
    assert _resolve("masks.mask_to_audio") is None and "audio.masks" in _hint("masks.mask_to_audio")
    assert _resolve("explainers.Explanation") is None and _resolve("nmf.sparse_nmf.NoSuchThing") is None


# -- docs/method.md ---------------------------------------------------------------------------------------
def test_method_page_finds_its_references():
    refs = _references(METHOD.read_text())
    assert "nmf.sparse_nmf.SparseNMF" in refs and "metrics.multilabel_fidelity" in refs
    assert len(refs) >= 50


@pytest.mark.parametrize("ref", _references(METHOD.read_text()))
def test_method_page_reference_exists(ref):
    assert _resolve(ref) is not None, f"docs/method.md names {ref}, which does not exist{_hint(ref)}"


def test_method_page_class_references_exist():
    classes = _public_classes()
    refs = _class_references(METHOD.read_text())
    assert "SparseNMF.objective" in refs and "FrontEnd.istft" in refs
    bad = [ref for ref in refs if ref.split(".")[0] not in classes
           or _walk(classes[ref.split(".")[0]], ref.split(".")[1:]) is None]
    assert bad == [], f"docs/method.md names {bad}, which do not exist"


# -- docs/architecture.md ---------------------------------------------------------------------------------
def _architecture_names() -> set[str]:
    """The dotted ``l2i_core...`` names in backticks on docs/architecture.md."""
    return set(re.findall(r"`(l2i_core(?:\.\w+)*)`", ARCHITECTURE.read_text()))


def test_architecture_page_names_every_module():
    """A module added without its line on docs/architecture.md fails here."""
    missing = sorted(set(_modules()) - _architecture_names())
    assert missing == [], f"docs/architecture.md has no line for {missing}"


@pytest.mark.parametrize("ref", sorted(_architecture_names() | {f"l2i_core.{r}" for r in _references(ARCHITECTURE.read_text())}))
def test_architecture_page_reference_exists(ref):
    if ref == "l2i_core":
        return
    assert _resolve(ref) is not None, f"docs/architecture.md names {ref}, which does not exist{_hint(ref.removeprefix('l2i_core.'))}"


def test_architecture_page_paths_exist():
    """Paths such as ``pipeline/steps.py`` (under l2i_core/) or ``tests/test_architecture.py`` exist."""
    text = ARCHITECTURE.read_text()
    paths = set(re.findall(r"`((?:[\w.]+/)+[\w.]+\.py)`", text)) | set(re.findall(r"\| `((?:\w+/)+\w+\.py)`", text))
    assert "pipeline/steps.py" in paths and "explain/interface.py" in paths
    top = {p.name for p in ROOT.iterdir() if p.is_dir()}
    bad = [p for p in sorted(paths) if not ((ROOT / p) if p.split("/")[0] in top else (PKG / p)).is_file()]
    assert bad == [], f"docs/architecture.md names {bad}, which do not exist"


def test_architecture_page_knows_the_command_registry_and_the_steps():
    from l2i_core.pipeline import cli, steps

    text = ARCHITECTURE.read_text()
    missing = [c for c in cli.COMMANDS if f"`{c}`" not in text]
    assert missing == [], f"docs/architecture.md does not list the l2i commands {missing}"
    ensure = sorted(n for n in vars(steps) if n.startswith("ensure_"))
    assert ensure and [n for n in ensure if f"`{n}`" not in text] == []


# -- README ------------------------------------------------------------------------------------------------
def test_readme_links_the_method_and_architecture_pages():
    readme = README.read_text()
    assert "docs/method.md" in readme and "(docs/architecture.md)" in readme


@pytest.mark.parametrize("ref", [r for r in re.findall(r"`l2i_core\.([\w.]+)`", README.read_text())])
def test_readme_l2i_core_reference_exists(ref):
    assert _resolve(ref) is not None, f"README.md names l2i_core.{ref}, which does not exist{_hint(ref)}"


def test_readme_runs_the_one_command():
    """``python -m l2i_core`` / ``torchrun -m l2i_core``, never a module inside the package."""
    readme = README.read_text()
    assert not re.findall(r"-m l2i_core\.\w+", readme)
    assert "torchrun" in readme and "-m l2i_core train-interpreter" in readme


#: What :func:`test_readme_own_model_example_runs` changes in the README's example, literally: a smaller
#: dictionary and one interpreter epoch. Each must be found, so a changed example is noticed here.
README_SUBSTITUTIONS = {
    "n_components=100": "n_components=8, max_iter=20",
    "multilabel=False)": "multilabel=False, config=InterpreterConfig(epochs=1, batch_size=4, progress=False))",
}


def _own_model_example() -> str:
    section = README.read_text().split("### Interpret your own model", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _tiny_net(n_classes: int):
    """A stand-in for the reader's ``my_trained_net``: log-mel ``(B, 64, T)`` → logits, with the README's tap names."""
    from torch import nn

    def block(c_in: int, c_out: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))

    class TinyNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer1, self.layer2, self.layer3, self.layer4 = block(1, 4), block(4, 8), block(8, 8), block(8, 16)
            self.head = nn.Linear(16, n_classes)

        def forward(self, x):
            h = self.layer4(self.layer3(self.layer2(self.layer1(x.unsqueeze(1)))))
            return self.head(h.mean(dim=(2, 3)))

    return TinyNet()


def test_readme_own_model_example_runs(tmp_path, monkeypatch):
    """The README's "Interpret your own model" code, as written, on a folder of tones in ``my_sounds/``
    (the working directory is ``tmp_path``), with an untrained tiny net as ``my_trained_net`` and the
    sizes of :data:`README_SUBSTITUTIONS`."""
    import numpy as np
    import soundfile as sf
    import torch

    from l2i_core.train.recipes import InterpreterConfig

    code = _own_model_example()
    assert len(code.strip().splitlines()) <= 15
    assert "from l2i_core import " in code, "the example imports the flagship names from the top level"
    for old, new in README_SUBSTITUTIONS.items():
        assert code.count(old) == 1, f"the README's example no longer contains {old!r}: update README_SUBSTITUTIONS"
        code = code.replace(old, new)
    sr, K = 22050, 8
    t = np.arange(sr * 5) / sr
    for c, f0 in (("high", 3000.0), ("low", 220.0)):
        (tmp_path / "my_sounds" / c).mkdir(parents=True)
        for i in range(5):
            y = 0.3 * np.sin(2 * np.pi * f0 * (1 + 0.01 * i) * t) + 0.01 * np.random.default_rng(i).standard_normal(len(t))
            sf.write(tmp_path / "my_sounds" / c / f"{c}{i}.wav", y.astype(np.float32), sr)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("L2I_PROJECT", str(tmp_path))
    torch.manual_seed(0)
    env = {"my_trained_net": _tiny_net(2), "InterpreterConfig": InterpreterConfig}
    tree = ast.parse(code)
    last = tree.body.pop() if isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, "README.md", "exec"), env)
    assert env["model"] is env["my_trained_net"]
    if last is not None:  # the example's last line shows what one listens to: evaluate it
        shown = eval(compile(ast.Expression(last.value), "README.md", "eval"), env)
        shown = shown if isinstance(shown, tuple) else (shown,)
        assert all(v is not None for v in shown), shown
        assert np.shape(shown[0])[-1] == 5 * sr, "the first value shown is the interpretation's audio (5 s)"
        assert any(np.ndim(v) >= 1 and np.shape(v)[-1] == K for v in shown[1:]), "a value per component (relevance)"
