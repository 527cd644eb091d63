"""Trained explainers that ship: half-precision copies that explain as the originals do (pipeline.shipped)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _toys import toy_explainer

from l2i_core import ParameterError
from l2i_core.explain.l2i import L2IExplainer
from l2i_core.models.checkpoints import save_classifier, save_interpreter
from l2i_core.pipeline.run import PROJECT_ENV
from l2i_core.pipeline.shipped import default_explainer_dir, ship, shipped_dir


def _artifacts(tmp_path):
    """A toy f and attention Θ saved as notebooks 02 and 03 save them."""
    import dataclasses

    l2i, _ = toy_explainer(seconds=1.0, C=3, K=8)
    clf, interp = l2i.model.classifier, l2i.interpreter
    d = tmp_path / "artifacts" / "esc10-cpu"
    save_classifier(clf, d, meta={"classes": list(l2i.model.classes), "preset": "cpu", "multilabel": False,
                                  "arch": dataclasses.asdict(clf.arch), "dataset": "esc10"})
    save_interpreter(interp, d, meta={"dataset": "esc10", "preset": "cpu"})
    return d


def test_a_shipped_explainer_is_half_the_size_and_explains_as_the_original(tmp_path):
    src = _artifacts(tmp_path)
    out = tmp_path / "trained" / "esc10-cpu"
    sizes = ship(src, out)
    assert {"classifier.pt", "classifier.json", "interpreter_attention.pt", "interpreter_attention.json",
            "LICENSE"} <= set(sizes) and set(sizes) == {p.name for p in out.iterdir()}
    assert "CC BY 3.0" in (out / "LICENSE").read_text()  # what the weights were trained on, and its licence
    for stem in ("classifier", "interpreter_attention"):
        shards = [n for n in sizes if n.startswith(f"{stem}-")]
        assert sum(sizes[n] for n in [f"{stem}.pt", *shards]) < 0.6 * (src / f"{stem}.pt").stat().st_size
        record = json.loads((out / f"{stem}.json").read_text())["shipped"]
        assert record["dtype"] == "float16" and record["shards"] == len(shards) and record["from"] == f"esc10-cpu/{stem}.pt"
    full, half = L2IExplainer.from_artifacts(src), L2IExplainer.from_artifacts(out)
    x = np.random.default_rng(0).standard_normal((4, full.preset.n_samples(1.0))).astype(np.float32) * 0.1
    a, b = full.attribute(x, with_audio=False), half.attribute(x, with_audio=False)
    assert np.array_equal(a.target, b.target)  # the same decisions of f
    np.testing.assert_allclose(b.mask, a.mask, atol=1e-2)  # masks within 1e-2
    with pytest.raises(ParameterError, match="onto the artifacts themselves"):
        ship(src, src)


def test_explain_and_lab_find_the_project_artifacts_first_then_the_shipped_ones(tmp_path, monkeypatch):
    monkeypatch.setenv(PROJECT_ENV, str(tmp_path))
    with pytest.raises(ParameterError, match="l2i reproduce --dataset esc10"):
        default_explainer_dir()
    src = _artifacts(tmp_path / "elsewhere")
    ship(src, shipped_dir("esc10-cpu"))
    assert default_explainer_dir() == tmp_path / "trained" / "esc10-cpu"  # nothing trained here: the shipped pair
    _artifacts(tmp_path)  # trained here (artifacts/esc10-cpu): preferred
    assert default_explainer_dir() == tmp_path / "artifacts" / "esc10-cpu"


def test_l2i_ship_writes_trained_and_keeps_to_its_budget(tmp_path, monkeypatch, capsys):
    from l2i_core.pipeline import shipped
    from l2i_core.pipeline.cli import main

    monkeypatch.setenv(PROJECT_ENV, str(tmp_path))
    _artifacts(tmp_path)
    assert main(["ship", "esc10-cpu"]) == 0
    assert (tmp_path / "trained" / "esc10-cpu" / "interpreter_attention.pt").is_file()
    assert "MB in all (at most 10)" in capsys.readouterr().out
    before = (tmp_path / "trained" / "esc10-cpu" / "classifier.pt").read_bytes()
    monkeypatch.setattr(shipped, "SHIP_BUDGET_MB", 1e-3)
    assert main(["ship", "esc10-cpu"]) == 1 and "nothing was replaced" in capsys.readouterr().err
    assert (tmp_path / "trained" / "esc10-cpu" / "classifier.pt").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("tmp")]


def test_half_precision_keeps_what_it_cannot_hold_in_float32():
    import torch

    from l2i_core.pipeline.shipped import _half

    state = {"small": torch.tensor([1.0, -2.5]), "huge": torch.tensor([1e6]), "count": torch.tensor(3)}
    out = _half(state)
    assert out["small"].dtype == torch.float16 and out["huge"].dtype == torch.float32 and out["count"].dtype == torch.int64


@pytest.mark.parametrize("name", ["esc10-cpu", "esc50-fold4-efficientat"])
def test_a_fresh_clone_explains_a_wav_with_the_shipped_explainers_and_no_training(name, tmp_path, monkeypatch):
    """What a new user does first: `l2i explain any.wav` in a project with no artifacts/ (so nothing trained), the
    repository's own trained/ (the committed files, not toys), no data folder and no download."""
    import soundfile as sf

    from l2i_core.pipeline.cli import main

    root = Path(__file__).resolve().parents[1]
    project = tmp_path / "clone"
    project.mkdir()
    (project / "trained").symlink_to(root / "trained", target_is_directory=True)
    monkeypatch.setenv(PROJECT_ENV, str(project))
    monkeypatch.delenv("L2I_DATA", raising=False)
    sr = 44100
    t = np.arange(int(4.0 * sr)) / sr  # shorter than a training clip, at another rate than f's
    wav = tmp_path / "any.wav"
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 440 * t) * (t % 0.5 < 0.25)).astype(np.float32), sr)
    args = ["explain", str(wav), "--out", str(tmp_path / "out")]
    if name != "esc10-cpu":
        args += ["--artifacts-dir", str(project / "trained" / name)]
    assert main(args) == 0
    summary = json.loads((tmp_path / "out" / "any" / "summary.json").read_text())
    assert Path(summary["model"]["artifacts_dir"]).resolve() == (root / "trained" / name).resolve()
    assert not (project / "artifacts").exists()  # nothing was trained
    (window,) = summary["windows"]
    assert window["prediction"] in summary["model"]["classes"]
    assert sum(window["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)  # one class, softmax
    assert summary["files"] and all(Path(p).is_file() for p in summary["files"])
    assert any(Path(p).name.endswith("_interpretation.wav") for p in summary["files"])


def test_a_state_dict_in_shards_reads_back_whole_and_a_damaged_shard_is_refused(tmp_path):
    import torch

    from l2i_core.models.checkpoints import SHARD_INDEX_KEY, load_state_dict, save_state_dict

    state = {f"w{i}": torch.full((250,), float(i)) for i in range(10)}  # 1000 bytes each
    state["step"] = torch.tensor(7)
    pt = tmp_path / "m.pt"
    files = save_state_dict(state, pt, max_shard_bytes=2500)  # two tensors a shard (+ the 8-byte step): 5 shards
    assert files[0] == pt and [f.name for f in files[1:]] == [f"m-{i}-of-5.pt" for i in range(1, 6)]
    index = torch.load(pt, weights_only=True)[SHARD_INDEX_KEY]
    assert [e["keys"] for e in index][:2] == [["w0", "w1"], ["w2", "w3"]] and index[-1]["keys"] == ["w8", "w9", "step"]
    back = load_state_dict(pt)
    assert list(back) == list(state) and all(torch.equal(back[k], state[k]) for k in state)
    save_state_dict(state, pt)  # saved again whole: the old shards go
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"] and torch.equal(load_state_dict(pt)["w9"], state["w9"])
    save_state_dict(state, pt, max_shard_bytes=2500)
    (tmp_path / "m-2-of-5.pt").write_bytes((tmp_path / "m-3-of-5.pt").read_bytes())
    with pytest.raises(ParameterError, match="sha256 differs"):
        load_state_dict(pt)
    (tmp_path / "m-2-of-5.pt").unlink()
    with pytest.raises(ParameterError, match="shard of m.pt missing"):
        load_state_dict(pt)
    with pytest.raises(ParameterError, match="positive size"):
        save_state_dict(state, pt, max_shard_bytes=0)


def test_shipped_files_are_each_under_2_mb_and_ten_in_all():
    """The repository's own trained/: every file under 2 MB (sharded), all of them within SHIP_BUDGET_MB."""
    from l2i_core.pipeline.shipped import SHIP_BUDGET_MB, SHIPPED

    root = Path(__file__).resolve().parents[1] / "trained"
    files = [p for name in SHIPPED for p in (root / name).iterdir()]
    assert files and max(p.stat().st_size for p in files) < 2e6
    assert sum(p.stat().st_size for p in files) <= SHIP_BUDGET_MB * 1e6
