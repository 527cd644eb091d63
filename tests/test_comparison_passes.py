"""Notebook 08's comparison in passes (``explainer_study.comparison_passes``), on tiny data known by construction:
the passes cover every clip once within the memory share; one pass scores exactly what the conditions of the
whole split scored before passes existed (the old ``make_conditions`` is written out below as the reference);
several passes give the same inputs, the same random draws and the same score rows as one pass, so the tables,
paired tests and record are the same."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from _toys import toy_explainer

import l2i_core.data as data
from l2i_core.audio.frontend import FrontEnd
from l2i_core.data.records import AudioDataset, Record
from l2i_core.evaluate import harness
from l2i_core.explain.lmac import LMACMask
from l2i_core.explain.references import OracleIRM, RandomMask
from l2i_core.models.lmac import LMACDecoder
from l2i_core.pipeline import explainer_study as es
from l2i_core.pipeline.run import run_config

SR, SECONDS, N_TEST, C = 22_050, 0.25, 6, 3


def _clips(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * SECONDS)) / SR
    return [(0.5 * np.sin(2 * np.pi * (200 + 300 * (i % C)) * t) + 0.1 * rng.standard_normal(len(t))).astype(np.float32)
            for i in range(n)]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: these tensors are tiny, and two threads spinning on a busy 2-core machine made the
    file 7 times slower (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def ds():
    """6 test clips of 3 classes in turn (and two train clips the comparison never reads)."""
    recs = [Record(f"t{i:02d}", (f"c{i % C}",), "test", waveform=w, sr=SR) for i, w in enumerate(_clips(N_TEST, 0))]
    recs += [Record(f"r{i}", (f"c{i}",), "train", waveform=w, sr=SR) for i, w in enumerate(_clips(2, 1))]
    return AudioDataset("toy", recs, [f"c{i}" for i in range(C)], duration=SECONDS)


@pytest.fixture(autouse=True)
def fsdd(monkeypatch):
    """A stand-in FSDD (five noise 'digits'), what ``explainer_study._speech`` loads for the speech condition."""
    rng = np.random.default_rng(2)
    recs = [Record(f"d{i}", ("0",), "test", waveform=rng.standard_normal(3000 + 500 * i).astype(np.float32) * 0.2,
                   sr=SR) for i in range(5)]
    fake = AudioDataset("fsdd", recs, ["0"], duration=1.0)
    monkeypatch.setattr(data, "load_dataset", lambda name, **kw: fake)
    return fake


@pytest.fixture(scope="module")
def toy():
    """f (a random CNN) with a random attention L2I and a random L-MAC decoder on it."""
    l2i, n = toy_explainer(seconds=SECONDS, C=C, K=8)
    l2i.detail = False
    model = l2i.model
    chans = [model.classifier.arch.channels[t - 1] for t in model.classifier.arch.taps]
    torch.manual_seed(0)
    decoder = LMACDecoder(chans, 513, 1 + n // 512, n_masks=C, width=8, head_width=4)
    return model, l2i, decoder


def _explainers(toy, *, cheap: bool = False):
    """L2I, L-MAC (the paired tests' two), random and the oracle, built afresh (the random mask draws from a
    generator that advances with each condition); ``cheap``: the last two only. (The gradient methods, seeded
    or deterministic too, are left out to keep the file fast.)"""
    model, l2i, decoder = toy
    refs = [RandomMask(model, seed=0), OracleIRM(model)]
    return refs if cheap else [l2i, LMACMask(decoder, model), *refs]


def _only(df: pd.DataFrame, methods) -> pd.DataFrame:
    """The rows of ``methods``, in order, renumbered (each explainer's rows do not depend on the others)."""
    return df[df["method"].isin([e.name for e in methods])].reset_index(drop=True)


def _cfg(memory_gb: float = 4.0):
    return run_config(dataset="esc10", seed=0, memory_gb=memory_gb)


def test_bytes_per_clip_follow_the_documented_formula(ds, toy):
    n = int(SR * SECONDS)
    F, T = 513, 1 + n // 512
    per = es.comparison_bytes_per_clip(_cfg(), ds)
    row = 4 * (24 * F * T + 6 * n)
    assert per.tolist() == [4 * 12 * n + row] * N_TEST
    assert len(es.comparison_bytes_per_clip(_cfg(), ds, n_clips=5)) == 5
    with_f = es.comparison_bytes_per_clip(_cfg(), ds, model=toy[0])
    assert (with_f > per).all() and len(set(with_f.tolist())) == 1  # f's backward on one clip, added per row
    assert FrontEnd("cpu").stft(torch.zeros(1, n)).shape[1:] == (F, T)


def _share(monkeypatch, clips: float, per: int, cfg) -> None:
    """A memory share that holds ``clips`` clips of ``per`` bytes."""
    monkeypatch.setattr(es, "COMPARISON_MEMORY_SHARE", clips * per / (cfg.memory_gb * 2**30))


def test_passes_cover_every_clip_once_within_the_share(ds, monkeypatch):
    cfg = _cfg()
    per = es.comparison_bytes_per_clip(cfg, ds)
    room = lambda: es.COMPARISON_MEMORY_SHARE * cfg.memory_gb * 2**30  # noqa: E731
    assert es.comparison_passes(cfg, ds) == [range(0, N_TEST)]  # a few MB: one pass
    assert es.comparison_passes(cfg, ds, n_clips=5) == [range(0, 5)]
    # the budget is the run's (memory_gb, as notebooks 05 and 06): 1 GB holds these 6 clips, not 4 KB worth of it
    assert es.comparison_passes(_cfg(0.5), ds) == [range(0, N_TEST)]
    _share(monkeypatch, 2.5, per[0], cfg)  # a share that holds 2.5 clips: passes of 2
    passes = es.comparison_passes(cfg, ds)
    assert passes == [range(0, 2), range(2, 4), range(4, 6)]
    assert [i for p in passes for i in p] == list(range(N_TEST))
    assert all(per[p.start:p.stop].sum() <= room() for p in passes)
    _share(monkeypatch, 3.5, per[0], cfg)  # 3.5 clips: passes of 3; of the first 5 clips, the last pass holds 2
    assert es.comparison_passes(cfg, ds) == [range(0, 3), range(3, 6)]
    assert es.comparison_passes(cfg, ds, n_clips=5) == [range(0, 3), range(3, 5)]
    _share(monkeypatch, 1.0, per[0], cfg)  # exactly one clip
    assert es.comparison_passes(cfg, ds) == [range(i, i + 1) for i in range(N_TEST)]
    # a share below one clip: still one clip a pass (the passes never skip a clip)
    monkeypatch.setattr(es, "COMPARISON_MEMORY_SHARE", 1e-9)
    assert es.comparison_passes(cfg, ds, n_clips=5) == [range(i, i + 1) for i in range(5)]


def _old_make_conditions(x, labels, *, speech, seed, uids):
    """``harness.make_conditions`` as it was before the passes (commit cb832c7), written out: the reference
    that one pass must reproduce bit for bit."""
    unit = lambda a: a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)  # noqa: E731

    def peak(a, *others):
        g = 1.0 / np.maximum(np.abs(a).max(axis=-1, keepdims=True), 1e-8)
        return tuple((v * g).astype(np.float32) for v in (a, *others))

    x = np.asarray(x, np.float32)
    y = np.asarray(labels, np.int64).reshape(-1)
    rng = np.random.default_rng(seed)
    other = np.array([rng.choice(np.flatnonzero(y != c)) if (y != c).any() else (i + 1) % len(y)
                      for i, c in enumerate(y)])
    out = {"clean": (x, None)}
    out["mixture"] = peak(0.8 * unit(x) + 0.2 * unit(x[other]), 0.8 * unit(x))
    noise = rng.standard_normal(x.shape).astype(np.float32)
    out["white noise"] = peak(unit(x) + 0.5 * unit(noise), unit(x))
    out["speech"] = peak(0.8 * unit(x) + 0.2 * unit(np.asarray(speech, np.float32)), 0.8 * unit(x))
    return out


def _old_conditions(cfg, ds, n_clips=None):
    """What ``build_conditions`` gave before the passes: every clip loaded, the speech drawn for all of them."""
    test = ds.split("test")
    if n_clips:
        test = test.subset(range(n_clips))
    x = test.load_batch(None, cfg.preset)
    speech = harness.speech_background(data.load_dataset("fsdd"), cfg.preset, len(x), x.shape[-1], seed=cfg.seed)
    return x, test, _old_make_conditions(x, test.targets(), speech=speech, seed=cfg.seed, uids=[r.uid for r in test])


def _same_condition(a, b):
    np.testing.assert_array_equal(a.x, b.x)
    assert (a.stem is None and b.stem is None) or np.array_equal(a.stem, b.stem)
    np.testing.assert_array_equal(a.label, b.label)
    assert a.name == b.name and list(a.uid) == list(b.uid) and a.note == b.note


def test_make_conditions_draws_what_it_drew_before(ds):
    cfg = _cfg()
    x, test, old = _old_conditions(cfg, ds)
    speech = harness.speech_background(data.load_dataset("fsdd"), cfg.preset, len(x), x.shape[-1], seed=cfg.seed)
    new = harness.make_conditions(x, test.targets(), speech=speech, seed=cfg.seed, uids=[r.uid for r in test])
    assert [c.name for c in new] == list(old)
    for c in new:
        np.testing.assert_array_equal(c.x, old[c.name][0])
        assert (c.stem is None and old[c.name][1] is None) or np.array_equal(c.stem, old[c.name][1])
    # the partners and the noise, handed in, replace the draws: the same conditions from the same draws
    rng = np.random.default_rng(cfg.seed)
    partners = harness.mixture_partners(test.targets(), rng)
    noise = rng.standard_normal(x.shape).astype(np.float32)
    for name in ("mixture", "white noise"):
        (c,) = harness.make_conditions(x, test.targets(), seed=cfg.seed, names=[name], partners=x[partners],
                                       noise=noise, uids=[r.uid for r in test])
        _same_condition(c, next(o for o in new if o.name == name))
    assert (test.targets()[partners] != test.targets()).all()  # every partner is of another class
    with pytest.raises(Exception, match="unknown conditions"):
        harness.make_conditions(x, test.targets(), names=["mixtures"])


def test_a_range_of_clips_gets_the_inputs_it_has_among_every_clip(ds):
    cfg = _cfg()
    whole, note = es.build_conditions(cfg, ds)
    assert note == f"{N_TEST} test clips of toy"
    _, _, old = _old_conditions(cfg, ds)
    assert [c.name for c in whole] == list(old) == ["clean", "mixture", "white noise", "speech"]
    for c in whole:  # no clips given: exactly what the code before the passes built
        np.testing.assert_array_equal(c.x, old[c.name][0])
        assert (c.stem is None and old[c.name][1] is None) or np.array_equal(c.stem, old[c.name][1])
    # any range, in any order (the generators go back to the seed), takes its rows of the whole
    for part in (range(0, 2), range(2, 4), range(4, 6), range(3, 6), range(1, 2), range(0, N_TEST)):
        some, note = es.build_conditions(cfg, ds, clips=part)
        assert f"clips {part.start}-{part.stop - 1} of {N_TEST}" in note
        for a, b in zip(some, whole):
            sl = slice(part.start, part.stop)
            _same_condition(a, harness.Condition(b.name, b.x[sl], b.label[sl], None if b.stem is None else b.stem[sl],
                                                 uid=b.uid[sl], note=b.note))
    # a range of the first 4 clips: partners drawn among those 4, as before the passes with n_clips=4
    _, _, old4 = _old_conditions(cfg, ds, n_clips=4)
    some, _ = es.build_conditions(cfg, ds, n_clips=4, clips=range(2, 4))
    for c in some:
        np.testing.assert_array_equal(c.x, old4[c.name][0][2:4])
    # one source, ranges in order: each generator moves on from the range before
    src = es._Conditions(cfg, ds)
    for part in (range(0, 2), range(2, 4), range(4, 6)):
        for b in whole:
            np.testing.assert_array_equal(src.build(b.name, part).x, b.x[part.start:part.stop])


def test_one_pass_scores_exactly_what_the_conditions_scored(ds, toy):
    """The code before the passes (conditions of the whole split, then compare) against the study in one pass."""
    cfg = _cfg()
    model = toy[0]
    x, test, old_inputs = _old_conditions(cfg, ds)
    before = es.build_conditions(cfg, ds)[0]  # checked equal to old_inputs above; scored by the old path
    for c in before:
        np.testing.assert_array_equal(c.x, old_inputs[c.name][0])
    old = es.comparison_study(cfg, ds, model, _explainers(toy), before, progress=False)
    passes = es.comparison_passes(cfg, ds, model=model)
    assert passes == [range(0, N_TEST)]
    new = es.comparison_study(cfg, ds, model, _explainers(toy), passes=passes, progress=False)
    pd.testing.assert_frame_equal(new.scores, old.scores, check_exact=True)
    assert list(new.scores.attrs["seconds"]) == list(old.scores.attrs["seconds"])
    pd.testing.assert_frame_equal(new.tests_table(), old.tests_table())  # every contestant pair, Holm per table
    assert new.notes == old.notes and new.first_pass_rows == {} and new.inputs == {c.name: N_TEST for c in before}
    strip = lambda r: {k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
    assert repr(strip(new.record())) == repr(strip(old.record()))
    assert new.example_rows("mixture", 3) == old.example_rows("mixture", 3)
    # the first pass's conditions handed in are scored as they are
    refs = _explainers(toy, cheap=True)
    again = es.comparison_study(cfg, ds, model, refs, before, passes=passes, progress=False)
    pd.testing.assert_frame_equal(again.scores, _only(old.scores, refs), check_exact=True)


class _Recording(RandomMask):
    """The random mask (seed 0), keeping each call's inputs and the masks it drew, in call order."""

    def __init__(self, model):
        super().__init__(model, seed=0)
        self.inputs, self.drawn = [], []

    def masks(self, x, target, V, f_logits, *, stems=None):
        m, extras = super().masks(x, target, V, f_logits, stems=stems)
        self.inputs.append(np.asarray(x.cpu() if isinstance(x, torch.Tensor) else x, np.float32).copy())
        self.drawn.append(m.numpy().copy())
        return m, extras


def test_several_passes_give_the_rows_of_one_pass(ds, toy, monkeypatch):
    cfg = _cfg()
    model = toy[0]
    rec_one, rec_three = _Recording(model), _Recording(model)
    one = es.comparison_study(cfg, ds, model, [*_explainers(toy)[:2], rec_one, OracleIRM(model)],
                              passes=[range(0, N_TEST)], progress=False)
    _share(monkeypatch, 2.5, es.comparison_bytes_per_clip(cfg, ds)[0], cfg)
    passes = es.comparison_passes(cfg, ds)
    assert passes == [range(0, 2), range(2, 4), range(4, 6)]
    study = es.comparison_study(cfg, ds, model, [*_explainers(toy)[:2], rec_three, OracleIRM(model)], passes=passes,
                                progress=False)
    # every explainer heard the same inputs and the random mask drew the same masks, bit for bit: 4 conditions
    # in one call each, against 4 × 3 calls of 2 clips
    assert len(rec_one.drawn) == 4 and len(rec_three.drawn) == 12
    np.testing.assert_array_equal(np.concatenate(rec_three.inputs), np.concatenate(rec_one.inputs))
    np.testing.assert_array_equal(np.concatenate(rec_three.drawn), np.concatenate(rec_one.drawn))
    df, ref = study.scores, one.scores
    conds = ["clean", "mixture", "white noise", "speech"]
    methods = ["L2I (attention)", "L-MAC", "random", "oracle IRM"]
    # the same rows in the same order: condition, method, row (numbered on across the passes)
    ids = ["condition", "method", "row", "uid", "label", "target", "explains_label"]
    assert df[ids].equals(ref[ids])
    assert list(dict.fromkeys(df["method"])) == methods and list(dict.fromkeys(df["condition"])) == conds
    assert len(df) == N_TEST * (len(conds) * len(methods) - 1)  # no oracle on clean clips
    assert not df.duplicated(["condition", "method", "row"]).any()
    # the same numbers, up to the last bits of float32 sums over batches of other sizes (f's batches of 4 rows in
    # one pass, of 2 here; the STFTs of 6 rows or 2): 1e-4 of a dB or of a probability at most
    pd.testing.assert_frame_equal(df, ref, rtol=1e-5, atol=1e-4)
    assert list(df.attrs["seconds"]) == list(ref.attrs["seconds"])
    assert study.notes == one.notes and study.inputs == one.inputs == dict.fromkeys(conds, N_TEST)
    assert study.first_pass_rows == dict.fromkeys(conds, 2) and one.first_pass_rows == {}
    # the tests and tables: computed once over every row
    ta, tb = study.tests_table(), one.tests_table()
    ids = ["condition", "a", "b", "column", "n"]
    assert ta[ids].equals(tb[ids]) and set(ta["condition"]) == {"mixture", "white noise", "speech"}
    np.testing.assert_allclose(ta["p_value"], tb["p_value"], rtol=1e-6)
    np.testing.assert_allclose(ta["median_difference"], tb["median_difference"], rtol=1e-4, atol=1e-4)
    for c in conds:  # the same means, up to the last printed digit (a 1e-9 change can round the other way; the
        a, b = study.table(c), one.table(c)  # bootstrap bounds of 6 rows can jump where it breaks a tie)
        assert a.index.equals(b.index) and a.columns.equals(b.columns) and a["n"].equals(b["n"])
        mean = lambda t: np.array([float(str(v).split()[0]) for v in t.drop(columns="n").to_numpy().ravel()  # noqa: E731
                                   if str(v) != "–"])
        np.testing.assert_allclose(mean(a), mean(b), rtol=0, atol=0.0101)
        pd.testing.assert_frame_equal(a, harness.summary_table(df, c))  # over every pass's rows at once
    assert study.record()["conditions"]["mixture"]["L-MAC"]["rows"] == N_TEST
    # the examples to listen to: rows of the first pass, which index its conditions
    assert all(r < 2 for r in study.example_rows("mixture", 10)) and len(study.example_rows("mixture", 10)) == 2
    # the first pass's conditions handed in (as notebook 08 does) change nothing
    first, _ = es.build_conditions(cfg, ds, clips=passes[0])
    again = es.comparison_study(cfg, ds, model, _explainers(toy, cheap=True), first, passes=passes, progress=False)
    pd.testing.assert_frame_equal(again.scores, _only(df, _explainers(toy, cheap=True)), check_exact=True)


def test_passes_that_do_not_fit_the_study_are_refused(ds, toy):
    cfg = _cfg()
    model, refs = toy[0], _explainers(toy, cheap=True)
    for bad in ([], [range(1, 6)], [range(0, 2), range(3, 6)], [range(0, 3), range(3, 3)], [range(0, 7)]):
        with pytest.raises(Exception, match="pass|passes|clip"):
            es.comparison_study(cfg, ds, model, refs, passes=bad, progress=False)
    later, _ = es.build_conditions(cfg, ds, clips=range(2, 4))
    with pytest.raises(Exception, match="not the first pass"):
        es.comparison_study(cfg, ds, model, refs, later, passes=[range(0, 2), range(2, 6)], progress=False)
    with pytest.raises(Exception, match="conditions, or the passes"):
        es.comparison_study(cfg, ds, model, refs, progress=False)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """Five scenes of two classes with their stems on disk: 2, 1, 0 (no label), 2 and 1 labelled classes."""
    root = tmp_path_factory.mktemp("scenes")
    rng = np.random.default_rng(4)
    labels = [("a", "b"), ("a",), (), ("b", "a"), ("b",)]
    recs = []
    for i, labs in enumerate(labels):
        stems = {}
        for c in labs:
            stems[c] = root / f"s{i}-{c}.wav"
            sf.write(stems[c], (0.3 * rng.standard_normal(int(SR * SECONDS))).astype(np.float32), SR)
        mix = sum((sf.read(p, dtype="float32")[0] for p in stems.values()), np.zeros(int(SR * SECONDS), np.float32))
        sf.write(root / f"m{i}.wav", mix if labs else 0.01 * rng.standard_normal(len(mix)).astype(np.float32), SR)
        recs.append(Record(f"m{i}", labs, "test", path=root / f"m{i}.wav", stems=stems))
    return AudioDataset("scenes", recs, ["a", "b"], multilabel=True, duration=SECONDS)


def test_scene_passes_split_the_rows_of_the_whole(scenes, monkeypatch):
    cfg = _cfg()
    per = es.comparison_bytes_per_clip(cfg, scenes)
    assert (per / per[1]).tolist() == [2, 1, 0, 2, 1]  # one row per labelled class
    assert es.comparison_passes(cfg, scenes) == [range(0, 5)]
    _share(monkeypatch, 2.5, per[1], cfg)
    passes = es.comparison_passes(cfg, scenes)
    assert passes == [range(0, 1), range(1, 3), range(3, 4), range(4, 5)]  # the unlabelled scene costs nothing
    (whole,), note = es.build_conditions(cfg, scenes)
    assert note == "scenes test scenes"
    parts = [es.build_conditions(cfg, scenes, clips=p)[0][0] for p in passes]
    np.testing.assert_array_equal(np.concatenate([p.x for p in parts]), whole.x)
    np.testing.assert_array_equal(np.concatenate([p.stem for p in parts]), whole.stem)
    assert sum((p.uid for p in parts), []) == whole.uid == ["m0:a", "m0:b", "m1:a", "m3:b", "m3:a", "m4:b"]
    monkeypatch.setattr(es, "COMPARISON_MEMORY_SHARE", 1e-9)  # one labelled scene a pass at least
    assert es.comparison_passes(cfg, scenes) == [range(0, 1), range(1, 2), range(2, 4), range(4, 5)]
    assert es.comparison_passes(cfg, scenes, n_clips=3) == [range(0, 1), range(1, 3)]  # trailing unlabelled joins
    assert harness.scene_condition(scenes, "cpu", max_scenes=2, scenes=range(1, 4)).uid == ["m1:a"]


def test_scenes_in_passes_score_the_rows_of_one_pass(scenes, toy, monkeypatch):
    cfg = _cfg()
    model = toy[0]
    (whole,), _ = es.build_conditions(cfg, scenes)
    old = es.comparison_study(cfg, scenes, model, _explainers(toy, cheap=True), [whole], progress=False)
    one = es.comparison_study(cfg, scenes, model, _explainers(toy, cheap=True), passes=[range(0, 5)], progress=False)
    pd.testing.assert_frame_equal(one.scores, old.scores, check_exact=True)
    _share(monkeypatch, 2.5, es.comparison_bytes_per_clip(cfg, scenes)[1], cfg)
    passes = es.comparison_passes(cfg, scenes)
    refs = _explainers(toy, cheap=True)
    study = es.comparison_study(cfg, scenes, model, refs, passes=passes, progress=False)
    ids = ["condition", "method", "row", "uid", "label", "target", "explains_label"]
    assert study.scores[ids].equals(old.scores[ids])
    pd.testing.assert_frame_equal(study.scores, old.scores, rtol=1e-5, atol=1e-4)  # batches of other sizes
    assert study.inputs == {"scenes": 6} and study.first_pass_rows == {"scenes": 2}
    assert study.notes == old.notes
