"""urbanmix: scenes mixed from real ESC clips in the SONYC-UST layout, checked against what we built."""

from __future__ import annotations

import collections
import filecmp
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from l2i_core import DataNotFoundError, ParameterError
from l2i_core.config import get_preset
from l2i_core.data import load_dataset, mixtures
from l2i_core.data.mixtures import ESC_TO_COARSE, ESC_TO_FINE, SIDECAR, build_urbanmix, load_urbanmix
from l2i_core.data.sonyc import ANNOTATION_COLUMNS, COARSE_CLASSES, COARSE_COLUMNS, FINE_COLUMNS, load_sonyc

SR = 8000  # small files, fast tests; the layout and the logic do not depend on the rate
N = {"train": 8, "validation": 2, "test": 2}


def _read(path):
    return sf.read(str(path), dtype="float64")[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory, data_root):
    root = tmp_path_factory.mktemp("urbanmix") / "a"
    build_urbanmix(root, n_scenes=N, sr=SR, seed=0, progress=False)
    return root


@pytest.fixture(scope="module")
def sidecar(built):
    return json.loads((built / SIDECAR).read_text())


# -- layout and labels ---------------------------------------------------------------------------
@pytest.mark.realdata
def test_sonyc_layout(built, sidecar):
    df = pd.read_csv(built / "annotations.csv")
    assert list(df.columns) == ANNOTATION_COLUMNS
    assert len(df) == 12 and df["audio_filename"].is_unique
    assert collections.Counter(df["split"]) == {"train": 8, "validate": 2, "test": 2}
    assert (df.loc[df["split"] == "train", "annotator_id"] == 1).all()
    assert (df.loc[df["split"] != "train", "annotator_id"] == 0).all()
    proximity = [c for c in df.columns if c.endswith("_proximity")]
    assert proximity and (df[proximity] == -1).all().all()
    for fname in df["audio_filename"]:
        uid = fname.rsplit(".", 1)[0]
        info = sf.info(str(built / "audio" / fname))
        assert info.samplerate == SR and info.frames == 10 * SR and info.subtype == "FLOAT"
        assert (built / "stems" / uid / "background.wav").is_file()
    p = sidecar["params"]
    assert (p["seed"], p["sr"], p["duration"], p["n_scenes"]) == (0, SR, 10.0, N)
    assert sidecar["l2i_version"] and "ESC" in sidecar["licence"] and "l2i" in sidecar["licence"]
    assert not (built / ".urbanmix_incomplete").exists()


@pytest.mark.realdata
def test_stems_sum_exactly_to_the_mixture(built):
    for scene in sorted((built / "stems").iterdir()):
        stems = [_read(p) for p in sorted(scene.glob("*.wav"))]
        mixture = _read(built / "audio" / f"{scene.name}.wav")
        assert len(stems) >= 2  # at least one event and the background
        assert np.array_equal(np.sum(stems, axis=0), mixture)
        assert 0.5 < np.abs(mixture).max() <= 0.9 + 1e-6  # peak-normalised with headroom, never clipped


@pytest.mark.realdata
def test_labels_are_the_non_silent_stems(built, sidecar):
    df = pd.read_csv(built / "annotations.csv").set_index("audio_filename")
    for fname, row in df.iterrows():
        uid = fname.rsplit(".", 1)[0]
        labelled = {c for c, col in zip(COARSE_CLASSES, COARSE_COLUMNS) if row[col] == 1}
        sounding = {p.stem for p in (built / "stems" / uid).glob("*.wav") if np.abs(_read(p)).max() > 1e-4}
        assert labelled == sounding - {"background"}
        assert 1 <= len(labelled) <= 3
        assert set(row[COARSE_COLUMNS].unique()) <= {0, 1}
        # fine columns: exactly the mapped fine class of each event
        events = next(s for s in sidecar["scenes"] if s["uid"] == uid)["events"]
        fine_on = {c for c in FINE_COLUMNS if row[c] == 1}
        assert fine_on == {f"{ESC_TO_FINE[e['target']]}_presence" for e in events}
        assert {ESC_TO_COARSE[e["target"]] for e in events} == labelled
        for e in events:  # the event sits where the sidecar says, silence elsewhere
            y = _read(built / "stems" / uid / f"{e['class']}.wav")
            on, off = round(e["onset_s"] * SR), round(e["offset_s"] * SR)
            assert np.abs(y[on:off]).max() > 0.01 and not y[:on].any() and not y[off:].any()


@pytest.mark.realdata
def test_classes_without_esc_source_are_always_absent(built):
    df = pd.read_csv(built / "annotations.csv")
    assert (df["2_machinery-impact_presence"] == 0).all() and (df["6_music_presence"] == 0).all()
    fine_2_6 = [c for c in FINE_COLUMNS if c[0] in "26"]
    assert (df[fine_2_6] == 0).all().all()


@pytest.mark.realdata
def test_source_clips_are_disjoint_across_splits(built, sidecar):
    # every source clip (used or not) has one split, and one src_file never straddles two splits
    split_of = {s["uid"]: s["split"] for s in sidecar["sources"]}
    by_src = collections.defaultdict(set)
    for s in sidecar["sources"]:
        by_src[s["src_file"]].add(s["split"])
    assert by_src and all(len(v) == 1 for v in by_src.values())
    # stratified: each event class and the background have clips in every split
    for role in {s["role"] for s in sidecar["sources"]}:
        assert {s["split"] for s in sidecar["sources"] if s["role"] == role} == {"train", "validation", "test"}
    # scenes only use clips of their own split
    used = collections.defaultdict(set)
    for scene in sidecar["scenes"]:
        for clip in [e["clip"] for e in scene["events"]] + [scene["background"]["clip"]]:
            assert split_of[clip] == scene["split"]
            used[scene["split"]].add(clip.split("-")[1])  # ESC name: fold-src_file-take-target
    assert not (used["train"] & used["validation"]) and not (used["train"] & used["test"])
    assert not (used["validation"] & used["test"])
    # the union esc50-fold4 + esc10 is deduplicated by file stem
    assert len(split_of) == len(sidecar["sources"])


@pytest.mark.realdata
def test_same_seed_same_bytes_other_seed_other_scenes(built, tmp_path):
    again = build_urbanmix(tmp_path / "b", n_scenes=N, sr=SR, seed=0, progress=False)
    assert (built / "annotations.csv").read_bytes() == (again / "annotations.csv").read_bytes()
    files = sorted(p.relative_to(built) for p in built.rglob("*.wav"))
    assert files == sorted(p.relative_to(again) for p in again.rglob("*.wav"))
    _, mismatch, errors = filecmp.cmpfiles(built, again, [str(f) for f in files], shallow=False)
    assert not mismatch and not errors
    assert (built / SIDECAR).read_bytes() == (again / SIDECAR).read_bytes()
    other = build_urbanmix(tmp_path / "c", n_scenes=N, sr=SR, seed=1, progress=False)
    assert (other / "annotations.csv").read_bytes() != (built / "annotations.csv").read_bytes()


# -- loading -------------------------------------------------------------------------------------
@pytest.mark.realdata
def test_load_sonyc_gives_multilabel_records_with_stems(built, sidecar):
    ds = load_sonyc(built, name="urbanmix")
    assert ds.multilabel and ds.classes == COARSE_CLASSES
    assert ds.split_sizes() == N
    labels = {s["uid"]: set(s["labels"]) for s in sidecar["scenes"]}
    preset = get_preset("cpu").replace(sr=SR)
    for r in ds:
        assert set(r.labels) == labels[r.uid]
        assert set(r.stems) == set(r.labels) | {"background"}
    r = max(ds, key=lambda r: len(r.labels))
    stems = ds.load_stems(r, preset)
    mixture = ds.load(r, preset, normalize=False)
    np.testing.assert_allclose(np.sum(list(stems.values()), axis=0), mixture, atol=1e-6)
    counts = ds.class_counts()
    assert counts.loc["machinery-impact", "total"] == 0 and counts.loc["music", "total"] == 0


@pytest.mark.realdata
def test_load_urbanmix_builds_once_and_keys_builds(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("L2I_CACHE", str(tmp_path / "cache"))
    small = {"train": 1, "validation": 1, "test": 1}
    ds = load_dataset("urbanmix", n_scenes=small, sr=SR, seed=0, progress=False)
    assert ds.name == "urbanmix" and len(ds) == 3 and ds.multilabel
    assert ds.root.parent == tmp_path / "cache" / "urbanmix" and ds.root.name.startswith("seed0-n3-")
    assert "src_file" in ds.protocol and "l2i" in ds.licence and "CC BY" in ds.licence
    assert all(r.stems and r.metadata["events"] for r in ds)

    def no_build(*a, **k):
        raise AssertionError("rebuilt although a matching build exists")

    monkeypatch.setattr(mixtures, "build_urbanmix", no_build)
    again = load_urbanmix(n_scenes=small, sr=SR, seed=0)
    assert again.root == ds.root and [r.uid for r in again] == [r.uid for r in ds]
    with pytest.raises(DataNotFoundError, match="build=True"):
        load_urbanmix(n_scenes=small, sr=SR, seed=1, build=False)
    monkeypatch.undo()
    monkeypatch.setenv("L2I_CACHE", str(tmp_path / "cache"))
    other = load_urbanmix(n_scenes=small, sr=SR, seed=1, progress=False)
    assert other.root != ds.root and other.root.parent == ds.root.parent  # side by side, nothing overwritten
    assert (ds.root / SIDECAR).is_file()


@pytest.mark.realdata
def test_explicit_data_dir_is_rebuilt_when_parameters_differ(data_root, tmp_path):
    small = {"train": 1, "validation": 1, "test": 1}
    target = tmp_path / "mine"
    ds = load_urbanmix(target, n_scenes=small, sr=SR, seed=0, progress=False)
    assert ds.root == target
    with pytest.raises(ParameterError, match="seed: 0 -> 2"):
        load_urbanmix(target, n_scenes=small, sr=SR, seed=2, build=False)
    with pytest.warns(UserWarning, match="rebuilding"):
        ds2 = load_urbanmix(target, n_scenes=small, sr=SR, seed=2, progress=False)
    assert json.loads((target / SIDECAR).read_text())["params"]["seed"] == 2 and len(ds2) == 3


@pytest.mark.realdata
def test_flac_format_is_exact_and_smaller(data_root, tmp_path):
    root = build_urbanmix(tmp_path / "f", n_scenes={"train": 2}, sr=SR, seed=0, audio_format="flac",
                          progress=False)
    for scene in (root / "stems").iterdir():
        stems = [_read(p) for p in scene.glob("*.flac")]
        assert np.array_equal(np.sum(stems, axis=0), _read(root / "audio" / f"{scene.name}.flac"))
    assert len(load_sonyc(root, name="urbanmix")) == 2


# -- bad input -----------------------------------------------------------------------------------
def test_no_esc_data_says_urbanmix_needs_esc(isolated_env):
    with pytest.raises(DataNotFoundError, match="urbanmix needs real ESC clips") as e:
        load_urbanmix(isolated_env / "um", n_scenes=3, progress=False)
    assert "\n" not in str(e.value) and "L2I_DATA" in str(e.value)
    assert not (isolated_env / "um").exists()  # nothing half-written


@pytest.mark.realdata
def test_too_few_source_clips_for_a_split(esc10_root, tmp_path):
    esc10 = load_dataset("esc10", data_dir=esc10_root)
    dog_srcs = sorted({r.metadata["src_file"] for r in esc10 if r.labels[0] == "dog"})[:2]
    keep = [i for i, r in enumerate(esc10)
            if r.labels[0] in ("rain", "sea_waves") or (r.labels[0] == "dog" and r.metadata["src_file"] in dog_srcs)]
    with pytest.raises(ParameterError, match="'dog' has too few source clips") as e:
        build_urbanmix(tmp_path / "x", n_scenes=6, sources=esc10.subset(keep), max_events=1, progress=False)
    assert "\n" not in str(e.value)
    with pytest.raises(ParameterError, match="max_events"):
        build_urbanmix(tmp_path / "y", n_scenes=6, sources="esc10", data_dir=esc10_root, max_events=5,
                       progress=False)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_scenes": 2}, "at least 3"),
        ({"n_scenes": {"dev": 3}}, "unknown split"),
        ({"n_scenes": {"train": -1}}, "non-negative"),
        ({"max_events": 0}, "max_events"),
        ({"duration": 0}, "duration"),
        ({"sr": 22.05}, "sr"),
        ({"background_db": float("nan")}, "background_db"),
        ({"audio_format": "mp3"}, "audio_format"),
        ({"sources": ["fsdd"]}, "sources"),
    ],
)
def test_bad_parameters(tmp_path, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        build_urbanmix(tmp_path / "x", progress=False, **kwargs)


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ParameterError, match="not empty"):
        mixtures._prepare_out_dir(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_n_scenes_int_is_split_4_1_1():
    assert mixtures._normalise_n_scenes(360) == {"train": 240, "validation": 60, "test": 60}
    assert mixtures._normalise_n_scenes(12) == {"train": 8, "validation": 2, "test": 2}
    assert mixtures._normalise_n_scenes({"validate": 4}) == {"train": 0, "validation": 4, "test": 0}
