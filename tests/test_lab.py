"""`l2i lab` without a browser: its parameters from the artifacts' sidecars, the refusals, the
parameterised notebook and the command line (tests/test_lab_browser.py serves it in Chromium)."""

from __future__ import annotations

import json

import nbformat
import pytest

from l2i_core import ParameterError
from l2i_core.pipeline.cli import main
from l2i_core.pipeline.lab import LAB_NOTEBOOK, lab_parameters, write_lab_notebook

CLASSES = ["dog", "rooster"]


def _artifacts(tmp_path, *, pooling="attention", name="esc10-cpu-quick", quick=True):
    d = tmp_path / name
    d.mkdir()
    (d / "classifier.pt").write_bytes(b"")
    (d / f"interpreter_{pooling}.pt").write_bytes(b"")
    (d / "classifier.json").write_text(json.dumps({"dataset": "esc10", "preset": "cpu", "classes": CLASSES,
                                                   "config": {"seed": 3}}))
    (d / f"interpreter_{pooling}.json").write_text(json.dumps({"dataset": "esc10", "preset": "cpu", "classes": CLASSES,
                                                               "best_selection_score": 0.5}))
    (d / "results.json").write_text(json.dumps({"classifier": {"quick": quick}}))
    return d


def test_parameters_come_from_the_sidecars(tmp_path):
    d = _artifacts(tmp_path)
    p = lab_parameters(d)
    assert p == {"dataset": "esc10", "data_dir": "", "preset": "cpu", "seed": 3, "quick": True, "pooling": "attention",
                 "artifacts_dir": str(d.resolve()), "show_gallery": False, "as_is": True}
    assert lab_parameters(d, quick=False)["quick"] is False
    (d / "results.json").unlink()
    assert lab_parameters(d)["quick"] is True  # the folder's name: artifacts/<dataset>-<preset>-quick


def test_missing_or_foreign_artifacts_name_the_notebook_to_run(tmp_path):
    d = _artifacts(tmp_path)
    with pytest.raises(ParameterError, match="interpreter_max.pt is missing; run notebook 03"):
        lab_parameters(d, pooling="max")
    with pytest.raises(ParameterError, match="not esc50"):
        lab_parameters(d, dataset="esc50")
    with pytest.raises(ParameterError, match="pooling"):
        lab_parameters(d, pooling="mean")
    (d / "interpreter_attention.json").write_text(json.dumps({"dataset": "esc10", "preset": "paper"}))
    with pytest.raises(ParameterError, match="run notebook 03"):
        lab_parameters(d)
    (d / "classifier.pt").unlink()
    with pytest.raises(ParameterError, match="classifier.pt is missing; run notebook 02"):
        lab_parameters(d)
    with pytest.raises(ParameterError, match="no such artifacts folder"):
        lab_parameters(tmp_path / "nothing")


def test_notebook_copy_has_the_parameters_injected(tmp_path):
    params = lab_parameters(_artifacts(tmp_path))
    nb = nbformat.read(write_lab_notebook(params, tmp_path), as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "show_gallery = False" in injected[0].source
    assert f'artifacts_dir = "{params["artifacts_dir"]}"' in injected[0].source
    source = nbformat.read(LAB_NOTEBOOK, as_version=4)
    assert source.cells[1].source.count("show_gallery: bool = True") == 1
    # the gallery's heading and cell are left out of the lab page, and only they
    gallery = [c for c in source.cells if "gallery" in c.metadata.get("tags", [])]
    assert len(gallery) == 2 and "## Gallery" in gallery[0].source and "show_gallery" in gallery[1].source
    assert not any("## Gallery" in c.source for c in nb.cells) and len(nb.cells) == len(source.cells) - 1


def test_cli_fails_in_one_line_without_artifacts(tmp_path, capsys):
    assert main(["lab", "--artifacts-dir", str(tmp_path / "nothing")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("l2i lab: error:") and "\n" not in err
