"""Reuse only what matches: a saved model's recipe, compared setting by setting (pipeline.provenance)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np

from l2i_core.nmf.dictionary import Dictionary, save_dictionary
from l2i_core.pipeline import provenance, steps
from l2i_core.pipeline.provenance import clips_digest, code_digest, differences, recipe, recipe_mismatch
from l2i_core.pipeline.run import run_config


class _DS(list):
    name, classes, multilabel = "toy", ["a", "b"], False


def _ds(tmp_path, sizes=(10, 20)):
    ds = _DS()
    for i, n in enumerate(sizes):
        f = tmp_path / f"c{i}.wav"
        f.write_bytes(b"x" * n)
        ds.append(SimpleNamespace(uid=f"c{i}", split="train", labels=("a",), path=f))
    return ds


def test_differences_name_each_setting_that_changed():
    base = {"dataset": "esc10", "seed": 0, "epochs": 35, "code_sha256": "a" * 64, "classes": ["x", "y"]}
    assert differences(base, dict(base)) == []
    assert differences(base, {**base, "seed": 1}) == ["seed 0 → 1"]
    assert differences(base, {**base, "epochs": 10}) == ["epochs 35 → 10"]
    assert differences(base, {**base, "epochs": 10}, compare_epochs=False) == []  # no budget asked for
    assert differences(base, {**base, "code_sha256": "b" * 64}) == [f"the code that trains it {'a' * 12} → {'b' * 12}"]
    assert differences(base, {**base, "classes": ["x"]}) == ["classes"]
    assert differences(None, base) == ["no recipe recorded (an older l2i)"]
    assert recipe_mismatch({"recipe": base}, {**base, "seed": 2}) == "the saved one differs: seed 0 → 2"
    assert recipe_mismatch({"recipe": base}, base) == ""


def test_clips_digest_follows_the_files_not_where_they_are(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir(), (tmp_path / "c").mkdir()
    same_elsewhere = clips_digest(_ds(tmp_path / "b"))
    assert clips_digest(_ds(tmp_path / "a")) == same_elsewhere  # the same files on another machine
    assert clips_digest(_ds(tmp_path / "c", sizes=(10, 21))) != same_elsewhere  # another file behind a uid


def test_code_digest_changes_with_the_training_code(tmp_path, monkeypatch):
    from l2i_core import _digest

    for part in provenance.TRAINING_CODE:
        (tmp_path / part).mkdir()
        (tmp_path / part / "m.py").write_text("x = 1\n")
    monkeypatch.setattr(_digest, "_PACKAGE", tmp_path)
    code_digest.cache_clear()
    try:
        before = code_digest()
        (tmp_path / "train" / "m.py").write_text("x = 2\n")
        code_digest.cache_clear()
        assert code_digest() != before
    finally:
        code_digest.cache_clear()


def test_a_dictionary_is_reused_only_for_its_own_recipe(tmp_path, monkeypatch):
    """Reused for the same run; relearned, with the setting named, for another seed or another code."""
    ds = _ds(tmp_path)
    learned = []

    def fake_learn(cfg, dataset, **kw):
        learned.append(cfg.seed)
        d = Dictionary(np.ones((513, 4), np.float32), {"dataset": dataset.name, "mode": "fixed", "l2i_version": "t",
                                                        "n_components": 4, "preset": {"name": cfg.preset.name}, "seconds": 0.0})
        target = tmp_path / "art" / "dictionary.npy"
        save_dictionary(d, target, preset=cfg.preset)
        steps.stamp_recipe(target.with_suffix(".json"), steps._dictionary_recipe(cfg, dataset, 4, 0.8, 200))
        return d

    monkeypatch.setattr(steps, "learn_dictionary_step", fake_learn)
    cfg = run_config(dataset="esc10", artifacts_dir=tmp_path / "art")
    _, msg = steps.ensure_dictionary(cfg, ds, n_components=4)
    assert learned == [0] and "none was found" in msg
    _, msg = steps.ensure_dictionary(cfg, ds, n_components=4)
    assert learned == [0] and msg.startswith("reused")
    _, msg = steps.ensure_dictionary(run_config(dataset="esc10", artifacts_dir=tmp_path / "art", seed=3), ds, n_components=4)
    assert learned == [0, 3] and "the saved one differs: seed 0 → 3" in msg
    side = json.loads((tmp_path / "art" / "dictionary.json").read_text())
    side["recipe"]["code_sha256"] = "0" * 64  # as if learned by other code
    (tmp_path / "art" / "dictionary.json").write_text(json.dumps(side))
    _, msg = steps.ensure_dictionary(run_config(dataset="esc10", artifacts_dir=tmp_path / "art", seed=3), ds, n_components=4)
    assert learned == [0, 3, 3] and "the code that trains it 000000000000 →" in msg
    # sparsity and iterations: compared when asked for (notebook 01 again), not when not (notebooks 03-08)
    run3 = run_config(dataset="esc10", artifacts_dir=tmp_path / "art", seed=3)
    _, msg = steps.ensure_dictionary(run3, ds, n_components=4)
    assert learned == [0, 3, 3] and msg.startswith("reused")
    _, msg = steps.ensure_dictionary(run3, ds, n_components=4, sparsity=0.5)
    assert learned == [0, 3, 3, 3] and "sparsity 0.8 → 0.5" in msg


def test_a_recipe_records_what_shaped_the_model(tmp_path):
    cfg = run_config(dataset="esc10", artifacts_dir=tmp_path, seed=2)
    r = recipe(cfg, _ds(tmp_path), epochs=35, kind="interpreter", pooling="max")
    assert {k: r[k] for k in ("dataset", "preset", "classes", "seed", "epochs", "kind", "pooling")} == {
        "dataset": "toy", "preset": "cpu", "classes": ["a", "b"], "seed": 2, "epochs": 35, "kind": "interpreter",
        "pooling": "max"}
    assert len(r["clips_sha256"]) == 64 and r["code_sha256"] == code_digest()
    assert json.loads(json.dumps(r)) == r  # plain JSON, as the sidecar stores it
