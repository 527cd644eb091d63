"""docs/method.md names real functions, and the README links it."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
METHOD = ROOT / "docs" / "method.md"


def _references(text: str) -> list[str]:
    """``module.name[.attr]`` references in backticks whose first part is an l2i_core module."""
    out = []
    for ref in re.findall(r"`([a-z_]+(?:\.[A-Za-z_]\w*)+)`", text):
        module = ref.split(".")[0]
        if (ROOT / "l2i_core" / f"{module}.py").is_file() and ref.split(".")[-1] not in ("npy", "json", "pt"):
            out.append(ref)
    return sorted(set(out))


def test_method_page_finds_its_references():
    refs = _references(METHOD.read_text())
    assert "nmf.SparseNMF" in refs and "metrics.multilabel_fidelity" in refs
    assert _references("`nmf.SparseNMF` and `numpy.sum` and `not_a_module.x`") == ["nmf.SparseNMF"]


@pytest.mark.parametrize("ref", _references(METHOD.read_text()))
def test_method_page_reference_exists(ref):
    module, *attrs = ref.split(".")
    obj = importlib.import_module(f"l2i_core.{module}")
    for a in attrs:
        assert hasattr(obj, a), f"docs/method.md names {ref}, which does not exist"
        obj = getattr(obj, a)


def test_readme_links_the_method_page():
    assert "docs/method.md" in (ROOT / "README.md").read_text()
