"""The common explainer interface and the comparison harness (issue 15), on cases known by construction."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest
import torch
from _planted import DISTRACTOR_HZ, SR, TONES_HZ, band_bins, planted_caches, planted_clips, train_planted
from _toys import toy_explainer

from l2i_core._utils import INFERENCE_BATCH_SIZE
from l2i_core.audio.frontend import FrontEnd
from l2i_core.audio.masks import mask_to_audio
from l2i_core.explain.gradients import GradientMask
from l2i_core.explain.interface import AudioModel
from l2i_core.explain.references import IdentityMask, OracleIRM, RandomMask, log1p_mask
from l2i_core.metrics import ideal_ratio_mask, si_sdr, si_sdr_improvement

#: The harness module (``l2i_core.evaluate`` binds the name ``compare`` to its function).
compare = importlib.import_module("l2i_core.evaluate.harness")


@pytest.fixture(scope="module")
def toy():
    l2i, n = toy_explainer(seconds=0.5, C=3, K=8)
    model = l2i.model  # the one classifier side, shared by every explainer
    x = np.random.default_rng(0).standard_normal((4, n)).astype(np.float32) * 0.1
    return l2i, model, x


def test_every_explainer_answers_the_same_call(toy):
    l2i, model, x = toy
    for ex in (l2i, GradientMask(model, "saliency"), RandomMask(model, seed=1), IdentityMask(model)):
        e = ex.attribute(x)
        assert e.mask.shape == e.V.shape == (4, 513, 1 + x.shape[1] // 512)
        assert e.mask.min() >= 0 and e.mask.max() <= 1
        assert e.audio.shape == x.shape
        np.testing.assert_array_equal(e.target, e.f_logits.argmax(1))  # target=None: f's top class
        assert ex.attribute(x, target=2).target.tolist() == [2] * 4
    e = l2i.attribute(x, with_audio=False)
    assert e.audio is None and len(e.extras["components"]) == 4 and e.extras["relevance"].shape == (4, 8)
    assert IdentityMask(model).attribute(x, with_audio=False).mask.min() == 1


def test_l2i_mask_is_the_sum_of_its_interpretations_masks(toy):
    l2i, _, x = toy
    e = l2i.attribute(x, target=1, tau=-np.inf, with_audio=False)
    np.testing.assert_allclose(e.mask, np.clip(np.stack([m.sum(0) for m in e.extras["component_masks"]]), 0, 1),
                               atol=1e-6)
    a = l2i.analyse(x)  # the lab's build of the same components gives the same row
    for i, k in enumerate(e.extras["components"]):
        np.testing.assert_array_equal(l2i.build(a, i, 1, k, with_audio=False).mask[0], e.mask[i])


def test_inference_batch_size_changes_no_score(toy):
    """f is in eval mode, so each clip's logits are its own: the default small inference batch and one
    pass over every clip give the same explanation and the same scores (up to float rounding)."""
    l2i, model, x4 = toy
    assert model.batch_size == l2i.model.batch_size == INFERENCE_BATCH_SIZE
    x = np.random.default_rng(1).standard_normal((7, x4.shape[1])).astype(np.float32) * 0.1
    exp = RandomMask(model, seed=3).attribute(x)
    one_pass = AudioModel(model.classifier, model.preset, classes=model.classes, batch_size=len(x))
    pd.testing.assert_frame_equal(compare.score_explanation(exp, model, curves=True),
                                  compare.score_explanation(exp, one_pass, curves=True), rtol=1e-6)
    a, b = l2i.analyse(x), l2i.analyse(x[:3])
    np.testing.assert_allclose(a.theta_logits[:3], b.theta_logits, rtol=1e-6, atol=1e-7)


def test_log1p_mask_gives_the_linear_mask_exactly():
    rng = np.random.default_rng(0)
    mag = rng.random((2, 7, 5)).astype(np.float64) * 10
    lin = rng.random((2, 7, 5))
    M = log1p_mask(torch.from_numpy(lin), torch.from_numpy(np.log1p(mag))).numpy()
    np.testing.assert_allclose(np.expm1(M * np.log1p(mag)), lin * mag, rtol=1e-9, atol=1e-12)
    assert M.min() >= 0 and M.max() <= 1


def test_identity_mask_scores_the_mixture_itself(toy):
    """The mask of ones returns the input up to the STFT round trip: its SI-SDR against a stem is the
    mixture's own SI-SDR, and its SI-SDRi is 0 (the reference row doing nothing must score)."""
    _, model, x = toy
    stem = x
    mixture = (0.8 * stem + 0.2 * np.roll(x, 1, axis=0)).astype(np.float32)  # each clip plus another one
    e = IdentityMask(model).attribute(mixture)
    fe = model.fe
    V, phase = fe.magnitude_phase(torch.from_numpy(mixture))
    round_trip = fe.synthesize(V, phase, length=mixture.shape[1]).numpy()  # the front end's own round trip
    np.testing.assert_allclose(e.audio, round_trip, rtol=0, atol=1e-6)
    assert np.abs(round_trip - mixture).max() < 1e-5 * np.abs(mixture).max()
    np.testing.assert_allclose(si_sdr(e.audio, stem), si_sdr(mixture, stem), atol=1e-3)
    np.testing.assert_allclose(si_sdr_improvement(e.audio, mixture, stem), 0.0, atol=1e-3)
    # independent noise clips at 0.8 / 0.2: the mixture's own SI-SDR is 20 log10(4) ≈ 12 dB (up to their correlation)
    np.testing.assert_allclose(si_sdr(mixture, stem), 20 * np.log10(4), atol=0.5)


def test_oracle_recovers_a_stem_that_is_the_whole_input(toy):
    _, model, x = toy
    e = OracleIRM(model).attribute(x, stems=x)
    assert si_sdr(e.audio, x).min() > 30  # IRM = 1 everywhere: the input itself, up to the STFT round trip
    with pytest.raises(Exception, match="stems"):
        OracleIRM(model).attribute(x)


def test_oracle_magnitude_is_the_ideal_ratio_mask(toy):
    _, model, x = toy
    s = x * 0.5 + np.roll(x, 7, axis=1) * 0.3
    e = OracleIRM(model).attribute(x, stems=s)
    S = model.fe.stft(torch.from_numpy(s)).abs().numpy()
    N = model.fe.stft(torch.from_numpy(x - s)).abs().numpy()
    X = np.expm1(e.V)
    np.testing.assert_allclose(e.magnitude, ideal_ratio_mask(S, N) * X, rtol=1e-3, atol=1e-5)


def _with_mask(e, value):
    """``e`` with every mask set to ``value`` (and its audio made again)."""
    e.mask = np.full_like(e.mask, value)
    e.audio = mask_to_audio(torch.from_numpy(e.mask), torch.from_numpy(e.V), torch.from_numpy(e.phase),
                            FrontEnd("cpu"), length=e.audio.shape[-1]).numpy()
    return e


def test_scores_of_a_full_and_an_empty_mask(toy):
    _, model, x = toy
    full = _with_mask(RandomMask(model).attribute(x), 1.0)
    d = compare.score_explanation(full, model, inputs=x, stem=x)
    # the explanation is the input: f's probability is kept (up to the STFT round trip), Fid-In 1
    assert d["AD"].max() < 1.0 and d["fid_in"].min() == 1.0 and np.allclose(d["mask_mean"], 1)
    assert d["si_sdr"].min() > 30 and np.allclose(d["energy_in_support"], 1)  # stem = input: all in support
    empty = _with_mask(RandomMask(model).attribute(x), 0.0)
    d0 = compare.score_explanation(empty, model)
    np.testing.assert_allclose(d0["FF"], 0, atol=1e-3)  # removing nothing changes nothing
    np.testing.assert_allclose(d0["FF_logit"], 0, atol=1e-2)


def test_conditions_follow_speechbrain_formulas():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 400)).astype(np.float32)
    y = np.array([0, 0, 1, 1, 2, 2])
    speech = rng.standard_normal((6, 400)).astype(np.float32)
    conds = {c.name: c for c in compare.make_conditions(x, y, speech=speech, seed=3)}
    assert list(conds) == ["clean", "mixture", "white noise", "speech"]
    for name in ("mixture", "white noise", "speech"):
        c = conds[name]
        assert np.abs(c.x).max(axis=1) == pytest.approx(np.ones(6), abs=1e-6)  # peak-normalised
        # the stem is the clip's own share: a scaled copy of it
        cos = np.sum(c.stem * x, 1) / np.linalg.norm(c.stem, axis=1) / np.linalg.norm(x, axis=1)
        np.testing.assert_allclose(cos, 1, atol=1e-5)
    m = conds["mixture"]
    rest = m.x - m.stem  # 0.2 n/‖n‖ after the same gain: a clip of another class
    for i in range(6):
        match = [j for j in range(6) if abs(np.dot(rest[i], x[j]) / np.linalg.norm(rest[i]) / np.linalg.norm(x[j])) > 0.999]
        assert len(match) == 1 and y[match[0]] != y[i]
    ratio = np.linalg.norm(m.stem, axis=1) / np.linalg.norm(rest, axis=1)
    np.testing.assert_allclose(ratio, 4.0, rtol=1e-5)  # 0.8 / 0.2


def test_randomize_classifier_touches_only_what_it_says(toy):
    l2i, _, _ = toy
    f = l2i.classifier
    before = {k: v.clone() for k, v in f.state_dict().items()}
    out = compare.randomize_classifier(f, "output", seed=1)
    changed = {k for k, v in out.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"fc.weight", "fc.bias"}
    allr = compare.randomize_classifier(f, "all", seed=1)
    changed = {k for k, v in allr.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])}
    assert "blocks.0.conv.weight" in changed or any(k.startswith("blocks.0") for k in changed)
    assert all(torch.equal(v, before[k]) for k, v in f.state_dict().items())  # the original is untouched


def test_mask_rank_correlation_known_cases():
    a = np.arange(24, dtype=float).reshape(2, 3, 4)
    r = compare.mask_rank_correlation(a, np.stack([a[0], -a[1]]))
    np.testing.assert_allclose(r, [1, -1])
    assert np.isnan(compare.mask_rank_correlation(np.ones((1, 3, 4)), a[:1])[0])


def _scores():
    rng = np.random.default_rng(0)
    rows = []
    for i in range(30):
        for m, shift in (("A", 1.0), ("B", 0.0), ("oracle IRM", 5.0)):
            rows.append({"condition": "mixture", "row": i, "uid": f"clip{i}", "method": m,
                         "si_sdr": shift + rng.normal(0, 0.3), "AI": 100.0 * (i % 2), "explains_label": True})
    return pd.DataFrame(rows)


def test_summary_paired_test_and_leaders_read_the_rows():
    df = _scores()
    t = compare.summary_table(df, "mixture", columns=["si_sdr"])
    assert set(t.index) == {"A", "B", "oracle IRM"} and t.loc["A", "n"] == "30 rows, 30 units, 1 seed"
    assert t.loc["A", "SI-SDR (dB)"].startswith("1.0") or t.loc["A", "SI-SDR (dB)"].startswith("0.9")
    test = compare.paired_comparison(df, "A", "B", condition="mixture", column="si_sdr")
    assert test["p_value"] < 1e-4 and test["median_difference"] == pytest.approx(1.0, abs=0.3)
    lead = compare.leaders(df, "mixture")
    sdr = [s for s in lead if s.startswith("SI-SDR")][0]
    assert "A leads" in sdr and "Holm-corrected" in sdr and "oracle" not in sdr  # the oracle is a reference
    ai = [s for s in lead if s.startswith("AI")][0]
    assert "no leader" in ai and "not separated" in ai  # the same AI on every clip: a tie is called a tie


def _planted_dictionary() -> np.ndarray:
    """Atoms known by construction: one narrow bump per tone, four flat sub-bands of the distractor, a
    flat floor (unit-norm columns)."""
    freqs = np.arange(513) * SR / 1024
    atoms = [np.exp(-0.5 * ((freqs - f0) / 30.0) ** 2) for f0 in TONES_HZ]
    edges = np.linspace(*DISTRACTOR_HZ, 5)
    atoms += [((freqs >= lo) & (freqs < hi)).astype(float) for lo, hi in zip(edges[:-1], edges[1:])]
    atoms.append(np.ones_like(freqs))
    W = np.stack(atoms, 1) + 1e-3
    return (W / np.linalg.norm(W, axis=0)).astype(np.float32)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "measured finding, not a bug of the harness: on the planted f, Psi encodes f's class in the activations of the "
    "distractor atoms (f never sees them) and leaves the tone atoms at 0, so the relevant components lie outside the "
    "band f reads (mask mean about 0.05 inside against 0.29 outside). strict: if L2I starts passing, this turns red."))
def test_planted_band_holds_the_l2i_mask():
    """f sees only one band: an explanation of f should put its mask there (the distractor outside is louder).
    The dictionary is known by construction: one atom per tone, four distractor sub-bands, a floor."""
    from l2i_core.explain.l2i import L2IExplainer
    from l2i_core.train.recipes import InterpreterConfig, train_interpreter

    f = train_planted()
    train, val, (x_val, _) = planted_caches(f)
    res = train_interpreter(train, val, _planted_dictionary(), n_classes=3, multilabel=False,
                            config=InterpreterConfig(epochs=25, progress=False, batch_size=16))
    assert res.best_selection_score > 0.8  # Θ does agree with f: the failure is in where the mask lies
    e = L2IExplainer(f, res.interpreter, "cpu").attribute(x_val, with_audio=False)
    inside = band_bins()
    assert e.mask[:, inside].mean() > 2 * e.mask[:, ~inside].mean()
    assert planted_clips(2)[0].shape[1] == x_val.shape[1]


def test_every_explainer_explains_the_rows_of_the_one_rule_for_a_multilabel_f():
    """target=None on a multi-label f: one row per class f predicts (several per clip, or none), for every
    explainer alike; the harness maps each row to its clip."""
    from l2i_core.explain.interface import explained_rows
    from l2i_core.explain.lmac import LMACMask
    from l2i_core.models.lmac import LMACDecoder

    l2i, n = toy_explainer(multilabel=True, seconds=0.5, C=3, K=8, seed=1)
    model = l2i.model
    x = np.random.default_rng(2).standard_normal((4, n)).astype(np.float32) * 0.1
    probs = torch.sigmoid(model.logits(x)).numpy()
    model.f_thresholds = np.array([probs[:, 0].min() - 1e-3, 2.0, np.median(probs[:, 2])])  # 0 always, 1 never
    want = [(i, c) for i in range(4) for c in range(3) if probs[i, c] > model.f_thresholds[c]]  # strict
    assert 4 < len(want) < 8  # some clips give two rows, some one
    clip, cls = explained_rows(model.logits(x), multilabel=True, thresholds=model.f_thresholds)
    assert list(zip(clip.tolist(), cls.tolist())) == want
    chans = [model.classifier.arch.channels[t - 1] for t in model.classifier.arch.taps]
    torch.manual_seed(0)
    lmac = LMACMask(LMACDecoder(chans, 513, 1 + n // 512, n_masks=3, width=8, head_width=4), model)
    V = model.fe.log_magnitude(torch.from_numpy(x)).numpy()
    for ex in (l2i, lmac, GradientMask(model, "saliency"), RandomMask(model), IdentityMask(model), OracleIRM(model)):
        e = ex.attribute(x, stems=0.5 * x)
        assert list(zip(e.clip.tolist(), e.target.tolist())) == want, ex.name
        assert e.mask.shape[0] == e.audio.shape[0] == len(want) and e.audio.shape[1] == n
        np.testing.assert_allclose(e.V, V[e.clip], rtol=1e-5, atol=1e-6)
        assert [int(r.clip[0]) for r in e] == clip.tolist()  # row access
    cond = compare.Condition("scenes", x, np.zeros(4, np.int64), stem=0.5 * x, uid=list("abcd"))
    df = compare.compare([l2i, RandomMask(model)], model, [cond], progress=False, curves=())
    for _, d in df.groupby("method"):
        assert d.uid.tolist() == ["abcd"[i] for i, _ in want] and d.target.tolist() == [c for _, c in want]
    # f predicts nothing: no row, for every explainer
    model.f_thresholds = np.full(3, 2.0)
    for ex in (l2i, RandomMask(model), GradientMask(model, "saliency")):
        e = ex.attribute(x)
        assert len(e) == 0 and e.mask.shape == (0, 513, 1 + n // 512) and e.audio.shape == (0, n)
    # one target per clip still gives one row per clip, and a wrong count or type is refused
    assert RandomMask(model).attribute(x, [0, 1, 2, 0]).clip.tolist() == [0, 1, 2, 3]
    with pytest.raises(Exception, match="targets for 4 clips"):
        RandomMask(model).attribute(x, [0, 1])
    with pytest.raises(Exception, match="int"):
        RandomMask(model).attribute(x, 1.5)
