"""Synthetic SONYC-UST-layout trees (``l2i_core.data.sonyc_synth``) read back by the ``sonyc`` loader."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from l2i_core import ParameterError
from l2i_core.data import SONYC_V2_SPLIT_SIZES, SYNTH_SIDECAR, load_sonyc, write_sonyc_tree
from l2i_core.data.sonyc import ANNOTATION_COLUMNS, COARSE_CLASSES, COARSE_COLUMNS, aggregate_labels
from l2i_core.data.sonyc_synth import _main, _split_sizes
from l2i_core.pipeline.run import run_config


@pytest.fixture(scope="module")
def tree(data_root, tmp_path_factory):
    """12 clips from ESC-50 fold 4; half the train clips verified, so that the label rules differ."""
    out = tmp_path_factory.mktemp("synth") / "tree"
    return write_sonyc_tree(out, 12, seed=3, source="esc50-fold4", data_dir=data_root,
                            train_verified_share=0.5, progress=False)


@pytest.fixture(scope="module")
def sidecar(tree):
    return json.loads((tree / SYNTH_SIDECAR).read_text())


def _digest(root) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_split_sizes_follow_v2():
    assert sum(SONYC_V2_SPLIT_SIZES.values()) == 18_510
    assert _split_sizes(12, 2) == {"train": 7, "validation": 3, "test": 2}
    assert _split_sizes(18_510, 2) == SONYC_V2_SPLIT_SIZES
    assert _split_sizes(2000, 2) == {"train": 1463, "validation": 465, "test": 72}
    with pytest.raises(ParameterError, match="at least 6"):
        _split_sizes(5, 2)


@pytest.mark.realdata
def test_tree_has_the_v2_layout_and_rows(tree, sidecar):
    ann = pd.read_csv(tree / "annotations.csv")
    assert list(ann.columns) == ANNOTATION_COLUMNS
    clips = {c["audio_filename"]: c for c in sidecar["clips"]}
    assert sorted(clips) == sorted(p.name for p in (tree / "audio").iterdir()) and len(clips) == 12
    # blocks in the real file's order (test, train, validate), each sorted by name
    order = list(dict.fromkeys(ann["audio_filename"]))
    assert list(dict.fromkeys(ann["split"])) == ["test", "train", "validate"]
    assert (ann["split"] != ann["split"].shift()).sum() == 3  # one block per split
    for s in ("test", "train", "validate"):
        names = [f for f in order if clips[f]["split"] == {"validate": "validation"}.get(s, s)]
        assert names == sorted(names)
    for f, g in ann.groupby("audio_filename", sort=False):
        c = clips[f]
        ids = g["annotator_id"].to_list()
        assert ids == sorted(ids)  # team, verified, volunteers
        assert sum(i > 0 for i in ids) == 3
        assert (0 in ids) == c["verified"] and sum(i < 0 for i in ids) == c["team_rows"]
        assert (g.loc[g["annotator_id"] >= 0, COARSE_COLUMNS] != -1).all().all()  # -1 only in team rows
        if c["team_rows"]:
            assert (g.loc[g["annotator_id"] < 0, COARSE_COLUMNS] == -1).any(axis=1).all()
        truth = [int(k in c["labels"]) for k in COARSE_CLASSES]
        if c["verified"]:
            assert g.loc[g["annotator_id"] == 0, COARSE_COLUMNS].to_numpy().tolist() == [truth]
        assert 1 <= len(c["labels"]) <= 3 and not {"machinery-impact", "music"} & set(c["labels"])
    assert all(c["verified"] for c in clips.values() if c["split"] != "train")
    assert any(c["team_rows"] for c in clips.values())
    info = sf.info(str(tree / "audio" / order[0]))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (44_100, 1, 441_000, "PCM_16")


@pytest.mark.realdata
def test_tree_loads_through_the_run_config_path(tree, sidecar):
    cfg = run_config(dataset="sonyc", data_dir=str(tree))
    ds = cfg.load_dataset(head=False)
    assert ds.name == "sonyc" and ds.multilabel and ds.classes == COARSE_CLASSES and ds.root == tree
    assert ds.split_sizes() == {"train": 7, "validation": 3, "test": 2} and ds.dropped == []
    assert "label_rule='dcase2020'" in ds.protocol
    clips = {c["audio_filename"]: c for c in sidecar["clips"]}
    ann = pd.read_csv(tree / "annotations.csv")
    for r in ds:
        c = clips[r.path.name]
        assert r.split == c["split"]
        if r.split != "train":  # validate / test: the verified row, i.e. the truth
            assert set(r.labels) == set(c["labels"]) and r.metadata["verified"]
        else:  # train: OR of the 3 (noisy) volunteer rows, computed here
            vol = ann[(ann["audio_filename"] == r.path.name) & (ann["annotator_id"] > 0)]
            assert set(r.labels) == {k for k, col in zip(COARSE_CLASSES, COARSE_COLUMNS) if (vol[col] == 1).any()}
    assert ds.load(0, "cpu").shape == (int(10 * cfg.preset.sr),)


@pytest.mark.realdata
def test_tree_rules_differ_only_on_verified_train_clips(tree):
    ann = pd.read_csv(tree / "annotations.csv")
    base, _ = aggregate_labels(ann)
    for rule in ("l2i", "dcase2019"):
        other, dropped = aggregate_labels(ann, label_rule=rule)
        assert dropped == []
        diff = (other[COARSE_COLUMNS] != base.loc[other.index, COARSE_COLUMNS]).any(axis=1)
        assert base.loc[diff.index[diff], "verified"].all()
        assert (base.loc[diff.index[diff], "split"] == "train").all()
    # dcase2019 gives the truth on every verified clip, train included
    d19 = load_sonyc(tree, label_rule="dcase2019")
    assert sum(r.metadata["verified"] for r in d19.split("train")) >= 1


@pytest.mark.realdata
def test_same_seed_same_tree_other_seed_other_tree(tree, data_root, tmp_path):
    again = write_sonyc_tree(tmp_path / "again", 12, seed=3, source="esc50-fold4", data_dir=data_root,
                             train_verified_share=0.5, progress=False)
    assert _digest(again) == _digest(tree)
    other = write_sonyc_tree(tmp_path / "other", 12, seed=4, source="esc50-fold4", data_dir=data_root,
                             train_verified_share=0.5, progress=False)
    assert _digest(other) != _digest(tree)
    # a rewrite into the same folder replaces it; a folder holding other things is refused
    assert _digest(write_sonyc_tree(other, 12, seed=3, source="esc50-fold4", data_dir=data_root,
                                    train_verified_share=0.5, progress=False)) == _digest(tree)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ParameterError, match="not empty"):
        write_sonyc_tree(tmp_path / "busy", 12, data_dir=data_root, progress=False)


@pytest.mark.realdata
def test_esc10_source_and_cli(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("L2I_DATA", str(data_root))
    assert _main([str(tmp_path / "t"), "9", "--seed", "1", "--source", "esc10"]) == 0
    ds = load_sonyc(tmp_path / "t")
    assert ds.split_sizes() == {"train": 5, "validation": 2, "test": 2}
    truth = {lab for c in json.loads((tmp_path / "t" / SYNTH_SIDECAR).read_text())["clips"] for lab in c["labels"]}
    assert truth <= {"engine", "powered-saw", "human-voice", "dog"}  # the classes ESC-10 has
    audio = np.concatenate([sf.read(r.path)[0] for r in ds])
    assert np.abs(audio).max() <= 0.9 + 1e-4 and np.abs(audio).max() > 0.1


def test_bad_arguments(tmp_path):
    for kw, match in ((dict(n_clips=2), "n_clips"), (dict(n_clips=12, seed=-1), "seed"),
                      (dict(n_clips=12, miss_rate=1.5), "miss_rate"), (dict(n_clips=12, sr=8.5), "sr")):
        with pytest.raises(ParameterError, match=match):
            write_sonyc_tree(tmp_path / "x", **kw)
