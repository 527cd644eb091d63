"""Datasets, splits, the registry and the SONYC-UST label logic."""

from __future__ import annotations

import collections
import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from l2i_core import DataNotFoundError, ParameterError
from l2i_core.data import AudioDataset, Record, find_dataset_dir, load_dataset, registry
from l2i_core.data.sonyc import COARSE_CLASSES, COARSE_COLUMNS, aggregate_labels, load_sonyc


# -- real datasets ------------------------------------------------------------------------------
@pytest.mark.realdata
def test_esc10_protocol(esc10_root):
    ds = load_dataset("esc10", data_dir=esc10_root)
    assert len(ds) == 400 and len(ds.classes) == 10 and not ds.multilabel
    folds = collections.Counter(r.metadata["fold"] for r in ds)
    assert folds == {1: 80, 2: 80, 3: 80, 4: 80, 5: 80}
    assert ds.split_sizes() == {"train": 240, "validation": 80, "test": 80}
    assert {r.metadata["fold"] for r in ds.split("test")} == {1}
    assert {r.metadata["fold"] for r in ds.split("validation")} == {2}
    assert ds.classes[0] == "dog" and ds.classes[-1] == "chainsaw"  # ESC-50 target order
    counts = ds.class_counts()
    assert (counts["test"] == 8).all() and (counts["total"] == 40).all()
    assert "test fold 1" in ds.protocol and "CC BY 3.0" in ds.licence


@pytest.mark.realdata
def test_esc10_other_folds_and_src_file_groups(esc10_root):
    ds = load_dataset("esc10", data_dir=esc10_root, test_fold=3, val_fold=4)
    assert {r.metadata["fold"] for r in ds.split("test")} == {3}
    by_src = collections.defaultdict(set)
    for r in ds:
        by_src[r.metadata["src_file"]].add(r.split)
    assert all(len(s) == 1 for s in by_src.values())
    with pytest.raises(ParameterError, match="must differ"):
        load_dataset("esc10", data_dir=esc10_root, test_fold=2, val_fold=2)
    with pytest.raises(ParameterError, match="not a fold"):
        load_dataset("esc10", data_dir=esc10_root, test_fold=7)


@pytest.mark.realdata
def test_esc50_fold4_grouped_stratified(esc50_fold4_root):
    ds = load_dataset("esc50-fold4", data_dir=esc50_fold4_root)
    assert len(ds) == 414 and len(ds.classes) == 50
    sizes = ds.split_sizes()
    assert sum(sizes.values()) == 414 and min(sizes.values()) > 60
    by_src = collections.defaultdict(set)
    for r in ds:
        by_src[(r.metadata["target"], r.metadata["src_file"])].add(r.split)
    assert all(len(s) == 1 for s in by_src.values())
    # stratified: every class is in train
    assert (ds.class_counts()["train"] > 0).all()
    # deterministic from the seed, different for another seed
    again = load_dataset("esc50-fold4", data_dir=esc50_fold4_root)
    assert [r.split for r in again] == [r.split for r in ds]
    other = load_dataset("esc50-fold4", data_dir=esc50_fold4_root, seed=1)
    assert [r.split for r in other] != [r.split for r in ds]


@pytest.mark.realdata
def test_every_real_esc10_clip_loads(esc10_root):
    ds = load_dataset("esc10", data_dir=esc10_root)
    for r in ds.per_class(4):
        y = ds.load(r, "cpu")
        assert y.shape == (110250,) and np.isfinite(y).all()


@pytest.mark.realdata
def test_fsdd_official_split(fsdd_root):
    ds = load_dataset("fsdd", data_dir=fsdd_root)
    assert len(ds) == 3000 and ds.classes == [str(d) for d in range(10)]
    assert all(r.metadata["index"] <= 4 for r in ds.split("test"))
    assert ds.split_sizes() == {"train": 2400, "validation": 300, "test": 300}
    y = ds.load(0, "cpu")
    assert y.shape == (22050,)


def test_env_and_cache_lookup_order(isolated_env, tmp_path, monkeypatch, esc10_root):
    env_dir = tmp_path / "env"
    (env_dir / "esc10").mkdir(parents=True)
    shutil.copytree(esc10_root / "meta", env_dir / "esc10" / "meta")
    (env_dir / "esc10" / "audio").mkdir()
    cache = registry.cache_dir()
    (cache / "esc10" / "audio").mkdir(parents=True)
    (cache / "esc10" / "meta").mkdir()
    (cache / "esc10" / "meta" / "esc10.csv").write_text("x")
    # cache only
    assert find_dataset_dir("esc10") == cache / "esc10"
    # $L2I_DATA wins over the cache
    monkeypatch.setenv("L2I_DATA", str(env_dir))
    assert find_dataset_dir("esc10") == env_dir / "esc10"
    # an explicit data_dir wins over both
    assert find_dataset_dir("esc10", esc10_root) == esc10_root
    # an explicit but wrong data_dir is an error, not a silent fallback
    with pytest.raises(DataNotFoundError, match="does not hold"):
        find_dataset_dir("esc10", tmp_path / "nowhere")


def test_not_found_offline_message(isolated_env):
    with pytest.raises(DataNotFoundError) as e:
        load_dataset("esc50")
    msg = str(e.value)
    assert "\n" not in msg and "L2I_DATA" in msg and "download" in msg


def test_offline_download_gives_one_clear_line(isolated_env, monkeypatch):
    import requests

    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError("Failed to resolve host (network is unreachable)")

    monkeypatch.setattr(registry.pooch, "retrieve", offline)
    with pytest.raises(DataNotFoundError) as e:
        load_dataset("esc50", download=True)
    msg = str(e.value)
    assert "\n" not in msg and "offline" in msg and "L2I_DATA" in msg and "ConnectionError" in msg


def test_registry_hashes_are_pinned():
    """Every download is checked: the archive's hash, or (ESC-10) every file's sha256 after unpacking."""
    for src in registry.SOURCES.values():
        for remote in src.remotes:
            assert remote.url.startswith("https://")
            if remote.known_hash is None:
                assert src.manifest and all(len(sha) == 64 and size > 0 for sha, size in src.manifest.values())
                continue
            algo, _, digest = remote.known_hash.partition(":")
            assert algo in ("md5", "sha256") and len(digest) in (32, 64)
    assert len(registry.SOURCES["esc10"].manifest) == 400
    assert "553c8f1743b9dba6b282e1323c3ca8fa76923448" in registry.SOURCES["esc10"].remotes[0].url


def test_unknown_dataset():
    with pytest.raises(ParameterError, match="unknown dataset"):
        load_dataset("imagenet")


# -- ESC layout: bad CSV and missing audio --------------------------------------------------------
def _tiny_esc(tmp_path, rows, *, write_audio=True):
    root = tmp_path / "esc"
    (root / "meta").mkdir(parents=True)
    (root / "audio").mkdir()
    pd.DataFrame(rows).to_csv(root / "meta" / "esc50.csv", index=False)
    if write_audio:
        for r in rows:
            sf.write(root / "audio" / r["filename"], 0.1 * np.random.default_rng(0).standard_normal(8000), 8000)
    return root


def _rows():
    rows = []
    for fold in range(1, 6):
        for target, cat in ((0, "dog"), (1, "rooster")):
            rows.append(dict(filename=f"{fold}-{100 + fold}{target}-A-{target}.flac", fold=fold, target=target,
                             category=cat, esc10=True, src_file=f"{100 + fold}{target}", take="A"))
    return rows


def test_esc_layout_accepts_any_extension(tmp_path):
    root = _tiny_esc(tmp_path, _rows())
    # the CSV says .wav, the files are .flac: same stem is accepted
    df = pd.read_csv(root / "meta" / "esc50.csv")
    df["filename"] = df["filename"].str.replace(".flac", ".wav")
    df.to_csv(root / "meta" / "esc50.csv", index=False)
    ds = load_dataset("esc50", data_dir=root)
    assert len(ds) == 10 and ds.classes == ["dog", "rooster"]
    assert ds.load(0, "cpu").shape == (110250,)


def test_esc_bad_csv_missing_column(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "src_file"} for r in _rows()]
    root = _tiny_esc(tmp_path, rows)
    with pytest.raises(ParameterError) as e:
        load_dataset("esc50", data_dir=root)
    assert "src_file" in str(e.value) and "\n" not in str(e.value)


def test_esc_bad_csv_garbage(tmp_path):
    root = _tiny_esc(tmp_path, _rows())
    (root / "meta" / "esc50.csv").write_bytes(b"filename,fold\n\"unterminated,1\n\x00\x00")
    with pytest.raises(ParameterError, match="esc50.csv"):
        load_dataset("esc50", data_dir=root)


def test_esc_bad_csv_non_integer_fold(tmp_path):
    rows = _rows()
    rows[0]["fold"] = "one"
    root = _tiny_esc(tmp_path, rows)
    with pytest.raises(ParameterError, match="integers"):
        load_dataset("esc50", data_dir=root)


def test_esc_missing_audio_file(tmp_path):
    root = _tiny_esc(tmp_path, _rows())
    (root / "audio" / _rows()[3]["filename"]).unlink()
    with pytest.raises(DataNotFoundError) as e:
        load_dataset("esc50", data_dir=root)
    assert "1 of 10" in str(e.value) and _rows()[3]["filename"] in str(e.value)


def test_esc_src_file_across_folds_rejected(tmp_path):
    rows = _rows()
    rows[0]["src_file"] = rows[2]["src_file"] = "shared"
    root = _tiny_esc(tmp_path, rows)
    with pytest.raises(ParameterError, match="src_file 'shared'"):
        load_dataset("esc50", data_dir=root)


# -- folder ----------------------------------------------------------------------------------------
def test_folder_dataset(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("bird", "car", "voice"):
        (tmp_path / cls).mkdir()
        for i in range(10):
            sf.write(tmp_path / cls / f"take{i}.wav", 0.1 * rng.standard_normal(4000), 8000)
    ds = load_dataset("folder", data_dir=tmp_path, duration=1.0)
    assert ds.classes == ["bird", "car", "voice"] and len(ds) == 30
    counts = ds.class_counts()
    assert (counts["test"] == 2).all() and (counts["validation"] == 2).all() and (counts["train"] == 6).all()
    assert ds.load(0).shape == (22050,)


def test_folder_errors(tmp_path):
    with pytest.raises(ParameterError, match="needs data_dir"):
        load_dataset("folder")
    (tmp_path / "only").mkdir()
    sf.write(tmp_path / "only" / "a.wav", np.ones(100) * 0.1, 8000)
    with pytest.raises(ParameterError, match="at least two"):
        load_dataset("folder", data_dir=tmp_path)


# -- records ---------------------------------------------------------------------------------------
def test_record_and_dataset_validation():
    with pytest.raises(ParameterError, match="split"):
        Record(uid="a", labels=("x",), split="dev", path="a.wav")
    with pytest.raises(ParameterError, match="sample rate"):
        Record(uid="a", labels=("x",), split="train", waveform=np.ones(3))
    rec = Record(uid="a", labels=("x",), split="train", waveform=0.1 * np.ones(8000), sr=8000)
    with pytest.raises(ParameterError, match="unknown label"):
        AudioDataset("t", [rec], ["y"])
    ds = AudioDataset("t", [rec], ["x", "y"], duration=0.5)
    assert ds.load(0, "cpu").shape == (11025,)
    assert ds.label_matrix().tolist() == [[1.0, 0.0]] and ds.targets().tolist() == [0]


# -- SONYC-UST labels -------------------------------------------------------------------------------
@pytest.mark.realdata
def test_sonyc_or_over_annotators_on_real_matrix(sonyc_labels_csv):
    raw = pd.read_csv(sonyc_labels_csv)
    assert list(raw.columns[1:]) == COARSE_COLUMNS  # CSV order = our class order
    df = raw.assign(split="train", annotator_id=1)
    labels, dropped = aggregate_labels(df)
    assert dropped == [] and len(labels) == 18510 == raw["audio_filename"].nunique()
    # known by construction: a clip is positive iff at least one of its rows says 1
    for col in COARSE_COLUMNS:
        pos = set(raw.loc[raw[col] == 1, "audio_filename"])
        assert set(labels.index[labels[col] == 1]) == pos
        # -1 (not labelled) alone never makes a positive
        only_minus = set(raw.loc[raw[col] == -1, "audio_filename"]) - pos
        assert (labels.loc[sorted(only_minus), col] == 0).all()
    # spot check from the file: 00_026884.wav has engine and machinery-impact marked once each
    row = labels.loc["00_026884.wav"]
    assert row["1_engine_presence"] == 1 and row["2_machinery-impact_presence"] == 1


def _write_sonyc(root, rows):
    (root / "audio").mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows)
    for c in COARSE_COLUMNS:
        if c not in df:
            df[c] = 0
    df = df[[c for c in df.columns if c not in COARSE_COLUMNS] + COARSE_COLUMNS]  # CSV order
    df.to_csv(root / "annotations.csv", index=False)
    for f in df["audio_filename"].unique():
        sf.write(root / "audio" / f, 0.1 * np.random.default_rng(1).standard_normal(8000), 8000)
    return root


def test_sonyc_verified_rules(tmp_path):
    e, d = "1_engine_presence", "8_dog_presence"
    rows = [
        # train: OR over volunteers; team rows ignored
        dict(split="train", audio_filename="t1.wav", annotator_id=5, **{e: 0, d: 1}),
        dict(split="train", audio_filename="t1.wav", annotator_id=6, **{e: 1, d: 0}),
        dict(split="train", audio_filename="t1.wav", annotator_id=-2, **{e: 0, d: 0}),
        # validate: the verified row decides, volunteers ignored
        dict(split="validate", audio_filename="v1.wav", annotator_id=7, **{e: 1, d: 1}),
        dict(split="validate", audio_filename="v1.wav", annotator_id=0, **{e: 0, d: 1}),
        # validate without verified annotation: dropped and reported
        dict(split="validate", audio_filename="v2.wav", annotator_id=8, **{e: 1, d: 0}),
        # test: -1 is "not labelled", not present
        dict(split="test", audio_filename="s1.wav", annotator_id=0, **{e: -1, d: 1}),
    ]
    ds = load_sonyc(_write_sonyc(tmp_path / "s", rows))
    assert ds.multilabel and ds.classes == COARSE_CLASSES
    by = {r.uid: r for r in ds}
    assert set(by) == {"t1", "v1", "s1"} and ds.dropped == ["v2.wav"]
    assert set(by["t1"].labels) == {"engine", "dog"} and by["t1"].split == "train"
    assert by["v1"].labels == ("dog",) and by["v1"].split == "validation"
    assert by["s1"].labels == ("dog",) and by["s1"].split == "test"
    assert "1 validation clip(s) without a verified annotation" in ds.protocol  # more in tests/test_sonyc.py


def test_sonyc_bad_csv(tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    pd.DataFrame({"audio_filename": ["a.wav"], "1_engine_presence": [1]}).to_csv(root / "annotations.csv", index=False)
    with pytest.raises(ParameterError, match="split"):
        load_sonyc(root)
    pd.DataFrame({"audio_filename": ["a.wav"], "split": ["dev"], "annotator_id": [0], "1_engine_presence": [1]}).to_csv(
        root / "annotations.csv", index=False)
    with pytest.raises(ParameterError, match="unknown split"):
        load_sonyc(root)
    pd.DataFrame({"audio_filename": ["a.wav"], "split": ["train"], "annotator_id": [1], "1_engine_presence": ["yes"]}).to_csv(
        root / "annotations.csv", index=False)
    with pytest.raises(ParameterError, match="integers"):
        load_sonyc(root)


def test_sonyc_missing_audio(tmp_path):
    root = _write_sonyc(tmp_path / "s", [dict(split="train", audio_filename="a.wav", annotator_id=1)])
    (root / "audio" / "a.wav").unlink()
    with pytest.raises(DataNotFoundError, match="no audio file"):
        load_sonyc(root)
