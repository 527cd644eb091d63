"""Ground truth about the model (issue: model truth): region-blind classifiers, a planted marker, and the
scores of explanations on them, each checked on a case whose answer is known by construction."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from test_compare_metrics import quantus  # noqa: F401 - the Quantus fixture (oracle only)
from torch import nn

from l2i_core._errors import ParameterError
from l2i_core.audio.frontend import FrontEnd
from l2i_core.config import get_preset
from l2i_core.data import AudioDataset, Record
from l2i_core.data.corrupt import snr_db
from l2i_core.data.planted import marker_frequencies, marker_support, mel_band_centres, planted_dataset
from l2i_core.evaluate.model_truth import (
    TABLE_COLUMNS,
    ModelTruthStudy,
    model_truth_study,
    region_scores,
    shortcut_check,
)
from l2i_core.explain.gradients import GradientMask
from l2i_core.explain.interface import AudioModel, Explainer, Explanation
from l2i_core.explain.references import IdentityMask, RandomMask
from l2i_core.models.blind import (
    EFFICIENTAT_SILENCE,
    RegionBlind,
    band_region,
    blind_constants,
    load_blind,
    peak_bound_db,
    save_blind,
    span_region,
    visible_region_on_grid,
)
from l2i_core.models.checkpoints import save_classifier
from l2i_core.models.classifier import AudioCNN, FeatureTap

SR = 22050
CPU = get_preset("cpu")


def _blind(region, seed: int = 0) -> RegionBlind:
    torch.manual_seed(seed)
    return RegionBlind(AudioCNN(3, CPU).eval(), region).eval()


def _regions(seconds: float = 1.0):
    band = band_region(CPU, 0.0, 2000.0)
    span = span_region(CPU, 0.0, seconds / 2, seconds)
    return {"band": band, "span": span, "both": band & span}


# -- RegionBlind ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["band", "span", "both"])
def test_logits_do_not_depend_on_anything_outside_the_visible_region(kind):
    region = _regions()[kind]
    f = _blind(region)
    T = CPU.n_frames(1.0)
    g = torch.Generator().manual_seed(1)
    x = -60 + 60 * torch.rand(4, CPU.n_mels, T, generator=g)
    vis = torch.from_numpy(np.broadcast_to(region.visible, (CPU.n_mels, T)).copy())
    outside = torch.where(vis, x, 200 * torch.randn(x.shape, generator=g))  # anything at all outside
    inside = x.clone()
    r, c = (int(i) for i in torch.nonzero(vis)[len(torch.nonzero(vis)) // 2])
    inside[:, r, c] += 30.0
    with torch.no_grad():
        base, other, moved = f(x), f(outside), f(inside)
    assert torch.equal(base, other)  # exactly, not approximately
    assert not torch.allclose(base, moved)
    with torch.enable_grad():  # the same with gradients on, and the input's gradient is 0 outside
        xg = x.clone().requires_grad_(True)
        f(xg)[:, 1].sum().backward()
    assert torch.equal(f(outside).detach(), base)
    assert (xg.grad[:, ~vis] == 0).all() and (xg.grad[:, vis] != 0).any()


def test_the_floor_makes_top_db_blind_too():
    """The cpu front end clips each clip at top_db below *its* peak: a loud invisible tone would reach the
    visible features through that floor; RegionBlind's fixed floor closes the channel (and without it the
    gradient leaks to the peak's bins)."""
    fe = FrontEnd(CPU)
    t = np.arange(SR) / SR
    rng = np.random.default_rng(0)
    quiet = 1e-4 * rng.standard_normal(SR)  # visible content, partly under peak - 80 dB
    x = torch.from_numpy((0.9 * np.sin(2 * np.pi * 6000 * t) + quiet).astype(np.float32))[None]
    region = band_region(CPU, 0.0, 2000.0)
    f = _blind(region)
    T = CPU.n_frames(1.0)
    grid = torch.from_numpy(visible_region_on_grid(f, CPU, T))
    mag = fe.stft(x).abs().requires_grad_(True)
    f(fe.features_from_magnitude(mag))[0, 2].backward()
    assert (mag.grad[0][~grid] == 0).all(), "the gradient reaches bins f cannot see"
    assert (mag.grad[0][grid] != 0).any()
    # the logits are exactly those of the clip with its invisible bins silenced or changed
    with torch.no_grad():
        m = mag.detach()
        silenced = torch.where(grid, m, torch.zeros_like(m))
        halved = torch.where(grid, m, 0.5 * m)
        lg = [f(fe.features_from_magnitude(v)) for v in (m, silenced, halved)]
    assert torch.equal(lg[0], lg[1]) and torch.equal(lg[0], lg[2])
    # without the floor the per-clip top_db clip leaks the invisible tone's peak
    fill, floor = blind_constants(CPU)
    leaky = RegionBlind(f.model, region, preset=CPU, fill=fill, floor=None).eval()
    mag2 = fe.stft(x).abs().requires_grad_(True)
    leaky(fe.features_from_magnitude(mag2))[0, 2].backward()
    assert (mag2.grad[0][~grid] != 0).any()
    assert floor == pytest.approx(peak_bound_db(CPU) - 80.0) and -45 < floor < -35


def test_the_peak_bound_holds_for_full_scale_signals():
    fe = FrontEnd(CPU)
    t = np.arange(SR) / SR
    rng = np.random.default_rng(0)
    clips = [np.sin(2 * np.pi * f0 * t) for f0 in (60.0, 440.0, 3000.0, 10000.0)]
    clips += [np.sign(rng.standard_normal(SR)), np.ones(SR), np.sign(np.sin(2 * np.pi * 100 * t))]
    with torch.no_grad():
        peak = fe.power_to_db(fe.mel_power(torch.tensor(np.stack(clips), dtype=torch.float32))).amax()
    assert float(peak) <= peak_bound_db(CPU)
    assert blind_constants("efficientat") == (pytest.approx((np.log(1e-5) + 4.5) / 5), None)


def test_visible_region_on_the_stft_grid():
    T = CPU.n_frames(1.0)
    hz = np.arange(CPU.n_freq) * SR / CPU.n_fft
    grid = visible_region_on_grid(_blind(band_region(CPU, 0.0, 2000.0)), CPU, T)
    assert grid.shape == (CPU.n_freq, T) and (grid == grid[:, :1]).all()
    assert not grid[hz > 2000].any() and grid[(hz > 50) & (hz < 1800)].all()
    assert not grid[0].any()  # the DC bin is under no mel filter: never seen
    grid = visible_region_on_grid(_blind(span_region(CPU, 0.0, 0.5, 1.0)), CPU, T)
    frames = np.nonzero(grid.any(0))[0]
    assert frames[0] == 0 and (frames[-1] * CPU.hop_length + CPU.n_fft // 2) <= 0.5 * SR
    assert (frames[-1] + 2) * CPU.hop_length + CPU.n_fft // 2 > 0.5 * SR  # the last frame that fits
    with pytest.raises(ParameterError):
        band_region(CPU, 0.0, 10.0)  # no filter fits in 10 Hz


def test_taps_state_dict_round_trip_and_weights_only(tmp_path):
    region = _regions()["both"]
    f = _blind(region)
    x = -60 + 60 * torch.rand(2, CPU.n_mels, CPU.n_frames(1.0))
    logits, maps = FeatureTap(f, f.tap_layers)(x)
    ref_logits, ref_maps = f.model.forward_features(f.blind(x))
    assert f.tap_layers == ("model.blocks.1", "model.blocks.2", "model.blocks.3")
    assert torch.equal(logits, ref_logits) and all(torch.equal(a, b) for a, b in zip(maps, ref_maps))
    save_classifier(f.model, tmp_path, meta={"classes": ["a", "b", "c"], "preset": "cpu", "multilabel": False,
                                             "arch": {"channels": [32, 64, 128, 256], "taps": [2, 3, 4],
                                                      "wide": None, "dropout": 0.3}})
    save_blind(f, tmp_path, meta={"dataset": "toy"})
    state = torch.load(tmp_path / "blind.pt", map_location="cpu", weights_only=True)
    assert state["visible"].dtype == torch.bool
    g, meta = load_blind(tmp_path)
    assert meta["region"]["kind"] == "band+span" and g.region.kind == "band+span"
    with torch.no_grad():
        assert torch.equal(g(x), f(x))
    assert np.array_equal(visible_region_on_grid(g, CPU, 44), visible_region_on_grid(f, CPU, 44))


# -- scores ----------------------------------------------------------------------------------------------
def _explanation(mask: np.ndarray) -> Explanation:
    R = len(mask)
    z = np.zeros_like(mask, dtype=np.float32)
    return Explanation(method="toy", target=np.zeros(R, np.int64), mask=mask.astype(np.float32), V=z + 1, phase=z,
                       f_logits=np.zeros((R, 3), np.float32), sr=SR)


def test_region_scores_of_known_explanations(quantus):  # noqa: F811 - the fixture
    grid = visible_region_on_grid(_blind(band_region(CPU, 0.0, 2000.0)), CPU, 44)
    share = grid.mean()
    exact = np.stack([grid, ~grid, np.full(grid.shape, 0.5)]).astype(np.float32)
    s = region_scores(_explanation(exact), grid)
    assert list(s["mass_inside"][:2]) == [1.0, 0.0] and list(s["rank_accuracy"][:2]) == [1.0, 0.0]
    assert list(s["mass_outside"][:2]) == [0.0, 1.0]
    assert s["mass_inside"][2] == pytest.approx(share, rel=1e-6)  # uniform: the region's share
    assert s["rank_accuracy"][2] == pytest.approx(share, abs=0.02)  # ties broken at random: the share too
    assert s["rank_accuracy_stable"][2] > 0.95  # Quantus's stable ties: the low rows come first, a tie-order artefact
    assert (s["region_share"] == share).all()
    # Quantus as the oracle, on masks without ties (there the random tie-break changes nothing)
    rng = np.random.default_rng(0)
    masks = rng.random((3, *grid.shape)).astype(np.float32)
    regions = np.stack([grid, ~grid, rng.random(grid.shape) < 0.1])
    s = region_scores(_explanation(masks), regions)
    kw = {"model": None, "x_batch": np.ones_like(masks[:, None]), "y_batch": np.zeros(3, dtype=int),
          "a_batch": masks[:, None].astype(np.float64), "s_batch": regions[:, None].astype(np.float64)}
    mass = quantus.RelevanceMassAccuracy(disable_warnings=True, return_aggregate=False)(**kw)
    rank = quantus.RelevanceRankAccuracy(disable_warnings=True, return_aggregate=False)(**kw)
    np.testing.assert_allclose(s["mass_inside"], mass, rtol=1e-6)
    np.testing.assert_allclose(s["rank_accuracy"], rank, rtol=1e-12)
    np.testing.assert_allclose(s["rank_accuracy_stable"], rank, rtol=1e-12)
    with pytest.raises(ParameterError):
        region_scores(_explanation(masks), np.zeros(grid.shape, bool))


class RegionMask(Explainer):
    """An explainer that knows the answer: the region f sees (or its complement), as a 0/1 mask on V's grid."""

    def __init__(self, model, grid, *, complement=False):
        super().__init__(model, "complement" if complement else "region")
        self.grid = torch.from_numpy(~grid if complement else grid)

    def masks(self, x, target, V, f_logits, *, stems=None):
        return self.grid.expand_as(V).float(), {}


def test_explainers_of_a_blind_f_through_the_contract():
    """Through Explainer.attribute on a RegionBlind f: the region itself scores mass 1 and rank accuracy 1, its
    complement 0 and 0; every gradient method puts all its mass where f sees (its gradient is 0 elsewhere);
    identity scores the region's share exactly and random about it."""
    region = band_region(CPU, 0.0, 2000.0) & span_region(CPU, 0.0, 0.5, 1.0)
    model = AudioModel(_blind(region), CPU)
    grid = visible_region_on_grid(model.classifier, CPU, CPU.n_frames(1.0))
    x = 0.3 * np.random.default_rng(0).standard_normal((2, SR)).astype(np.float32)
    budgets = {"saliency": {}, "integrated_gradients": {"n_steps": 3}, "smoothgrad": {"nt_samples": 3}}  # any budget
    explainers = [RegionMask(model, grid), RegionMask(model, grid, complement=True), IdentityMask(model),
                  RandomMask(model, seed=0), *(GradientMask(model, m, **kw) for m, kw in budgets.items())]
    got = {e.name: region_scores(e.attribute(x, with_audio=False), grid) for e in explainers}
    assert (got["region"]["mass_inside"] == 1).all() and (got["region"]["rank_accuracy"] == 1).all()
    assert (got["complement"]["mass_inside"] == 0).all() and (got["complement"]["rank_accuracy"] == 0).all()
    assert np.allclose(got["identity"]["mass_inside"], grid.mean())
    assert np.allclose(got["random"]["mass_inside"], grid.mean(), atol=0.01)
    for name in ("Saliency", "Integrated Gradients", "SmoothGrad"):
        assert (got[name]["mass_inside"] == 1).all(), name
        assert (got[name]["rank_accuracy"] > 0.5).all(), name  # the top ranks lie inside (only ties may not)
    assert (got["identity"]["region_share"] == grid.mean()).all()


def test_efficientat_is_blinded_alike():
    """The AudioSet network: the same wrapper, its taps, silence as its front end writes it, and its own grid."""
    from l2i_core.models.efficientat import EFFICIENTAT_FILE, EfficientATClassifier

    env = os.environ.get("L2I_MODELS")
    if not env or not (Path(env) / "efficientat" / EFFICIENTAT_FILE).is_file():  # as test_finetune_efficientat
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true and L2I_MODELS does not hold efficientat/" + EFFICIENTAT_FILE)
        pytest.skip("set L2I_MODELS to the folder holding efficientat/" + EFFICIENTAT_FILE)
    eat = get_preset("efficientat")
    torch.manual_seed(0)
    region = band_region(eat, 0.0, 2000.0) & span_region(eat, 0.0, 0.5, 1.0)
    f = RegionBlind(EfficientATClassifier(3).eval(), region).eval()  # AudioSet's backbone (a random one is constant)
    assert f.tap_layers == tuple(f"model.{t}" for t in f.model.tap_layers)
    assert float(f.fill) == pytest.approx(EFFICIENTAT_SILENCE) and not torch.isfinite(f.floor)
    x = FrontEnd(eat).logmel(torch.from_numpy(0.3 * np.random.default_rng(0).standard_normal((2, eat.sr)))
                             .float())
    vis = torch.from_numpy(np.broadcast_to(region.visible, x.shape[-2:]).copy())
    with torch.no_grad():
        assert torch.equal(f(x), f(torch.where(vis, x, 5 * torch.randn_like(x))))
        assert not torch.allclose(f(x), f(torch.where(vis, x + torch.randn_like(x), x)))
        silent = FrontEnd(eat).logmel(torch.zeros(1, eat.sr))
    assert torch.allclose(silent, torch.full_like(silent, EFFICIENTAT_SILENCE))  # the fill is digital silence
    grid = visible_region_on_grid(f, eat, x.shape[-1])
    hz = np.arange(eat.n_freq) * eat.sr / eat.n_fft
    assert grid.shape == (eat.n_freq, x.shape[-1]) and not grid[hz > 2000].any() and grid[(hz > 100) & (hz < 1800)].any()
    # the marker frequencies are distinct bands of its own (Kaldi) mel scale
    f50 = marker_frequencies(50, eat)
    assert len(set(np.round(f50, 6))) == 50 and f50.min() >= 500 and f50.max() <= 0.75 * 15000


def test_study_refuses_bad_requests_before_training(tmp_path):
    from l2i_core.pipeline.run import run_config

    cfg = run_config(dataset="esc10", preset="cpu", artifacts_dir=tmp_path)
    ds = _backgrounds()
    for kwargs, match in ((dict(kind="blind"), "unknown kind"), (dict(methods=("lime",)), "unknown explainers"),
                          (dict(methods=()), "no explainer"), (dict(methods=("oracle",)), "only kind='planted'"),
                          (dict(kind="marker", region=band_region(CPU, 0, 2000)), "takes no region"),
                          (dict(n_clips=0), "n_clips"), (dict(batch_size=0), "batch_size")):
        with pytest.raises(ParameterError, match=match):
            model_truth_study(cfg, ds, **{"kind": "band", **kwargs})
    with pytest.raises(ParameterError, match="no test clip"):
        model_truth_study(cfg, ds.subset([i for i, r in enumerate(ds) if r.split != "test"]), "planted")
    aisfx = run_config(dataset="esc10", preset="aisfx", artifacts_dir=tmp_path)
    with pytest.raises(ParameterError, match="own STFT"):
        model_truth_study(aisfx, ds, "band")
    assert not any(tmp_path.iterdir())  # nothing was trained


def test_study_table_and_record():
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    rows = []
    for m, v, n in (("a", 0.7, 12), ("b", 0.1, 12), ("c", 0.5, 6)):
        for i in range(n):
            rows.append({"method": m, "uid": f"clip{i}", "mass_inside": v + 0.01 * i, "mass_outside": 1 - v - 0.01 * i,
                         "rank_accuracy": v, "rank_accuracy_stable": v, "region_share": 0.25})
    st = ModelTruthStudy(kind="band", dataset="toy", preset="cpu", region={"kind": "band"},
                         scores=pd.DataFrame(rows), classifier={"test_accuracy": float("nan")}, methods=["a", "b", "c"])
    t = st.table()
    assert list(t.columns) == list(TABLE_COLUMNS)
    assert list(t["method"]) == ["a", "b", "c"] and list(t["rows"]) == [12, 12, 6] and list(t["clips"]) == [12, 12, 6]
    assert t["mass inside"][0] == pytest.approx(0.755) and t["low"][0] < 0.755 < t["high"][0]
    assert t["rank low"][0] == pytest.approx(0.7) and t["rank high"][0] == pytest.approx(0.7)  # a constant
    assert np.isnan(t["low"][2]) and np.isnan(t["high"][2]) and t["interval"][2] == "n < 10: no interval"
    assert list(t["chance"]) == [0.25, 0.25, 0.25]
    assert t["p above chance"][0] < 0.01 and t["p above chance"][1] == 1.0  # Holm over the table
    rec = json.loads(json.dumps(st.record(), allow_nan=False))
    assert rec["classifier"]["test_accuracy"] is None and len(rec["table"]) == 3 and rec["table"][2]["low"] is None
    assert "a: 75.5" in st.sentences()[0]
    rv = st.reviewer()  # the reviewer's table: n per cell, Holm-corrected paired tests, a leader only where they reject
    assert rv.cells[("a", "mass_inside")]["n"] == 12 and rv.cells[("c", "mass_inside")]["n_clusters"] == 6
    assert len(rv.verdicts) == 2 and st.sentences()[-2].startswith("mass inside (higher is better)")
    assert set(rec["reviewer"]["cells"]) == {"a", "b", "c"}
    fig = st.plot()
    assert sorted(x.get_text() for x in fig.axes[0].get_yticklabels()) == ["a", "b", "c"]
    st.plot(metric="rank accuracy")
    with pytest.raises(ParameterError):
        st.plot(metric="auc")


# -- the planted marker ------------------------------------------------------------------------------------
def _backgrounds(n_per_class: int = 2, classes=("c0", "c1", "c2"), seconds: float = 1.0) -> AudioDataset:
    """Clips of a 50 Hz hum with a little noise, balanced over classes and splits: nothing in the marker bands."""
    t = np.arange(int(SR * seconds)) / SR
    recs = []
    for split in ("train", "validation", "test"):
        for c in classes:
            for i in range(n_per_class):
                rng = np.random.default_rng(len(recs))
                y = 0.5 * np.sin(2 * np.pi * 50 * t + rng.uniform(0, 6)) + 1e-6 * rng.standard_normal(len(t))
                recs.append(Record(uid=f"{split}-{c}-{i}", labels=(c,), split=split, waveform=y.astype(np.float32),
                                   sr=SR))
    return AudioDataset("hum", recs, list(classes), duration=seconds)


def test_marker_support_is_the_marker_and_class_specific():
    ds = _backgrounds()
    p = planted_dataset(ds, CPU, snr_db=10.0, seed=3, seconds=0.3, low_hz=1000.0)
    again = planted_dataset(ds, CPU, snr_db=10.0, seed=3, seconds=0.3, low_hz=1000.0)
    assert all(np.array_equal(a.waveform, b.waveform) for a, b in zip(p.dataset, again.dataset))  # deterministic
    assert p.dataset.name == "hum-planted" and all(r.metadata["planted"] for r in p.dataset)
    np.testing.assert_allclose(p.clean + p.markers, p.mixtures, atol=1e-6)
    np.testing.assert_allclose(snr_db(p.clean, p.markers), 10.0, atol=0.01)  # the stated level
    support = p.support()
    hz = np.arange(CPU.n_freq) * SR / CPU.n_fft
    bands = []
    for i, r in enumerate(p.dataset.split("test")):
        s = support[i]
        f0, start = r.metadata["marker_hz"], r.metadata["marker_start_s"]
        assert f0 == p.frequencies_hz[r.label] and s.any()
        rows, cols = np.nonzero(s)
        assert np.abs(hz[rows] - f0).max() <= 4 * SR / CPU.n_fft  # the tone's main lobe (and a little leakage)
        centres = cols * CPU.hop_length / SR
        assert centres.min() >= start - CPU.n_fft / SR and centres.max() <= start + 0.3 + CPU.n_fft / SR
        bands.append((r.label, set(rows.tolist())))
    for a, ra in bands:  # different classes: disjoint supports; the same class: the same band
        for b, rb in bands:
            assert (ra & rb) if a == b else not (ra & rb)
    # the marker frequencies are distinct mel-band centres of the preset
    f = marker_frequencies(50, "efficientat")
    centres = mel_band_centres("efficientat")
    assert len(set(np.round(f, 6))) == 50 and all(np.isclose(centres, x).any() for x in f)
    with pytest.raises(ParameterError):
        marker_frequencies(40, CPU, low_hz=4000.0)


class MarkerReader(nn.Module):
    """A toy f that reads only the marker bands: logit c = how far band c's loudest frame rises above -40 dB."""

    def __init__(self, freqs):
        super().__init__()
        centres = mel_band_centres(CPU)
        self.bands = [int(np.argmin(np.abs(centres - f))) for f in freqs]
        self.n_classes, self.multilabel, self.preset = len(freqs), False, CPU

    def forward(self, x):
        return torch.stack([(x[:, b] + 40).clamp_min(0).amax(-1) for b in self.bands], 1)


def test_shortcut_check_on_a_toy_f_that_reads_only_the_marker():
    ds = _backgrounds(n_per_class=4)
    p = planted_dataset(ds, CPU, snr_db=10.0, seed=0, seconds=0.3, low_hz=1000.0)
    f = MarkerReader([p.frequencies_hz[c] for c in ds.classes])
    out = shortcut_check(AudioModel(f, CPU), p.mixtures, p.clean, p.labels)
    assert out["accuracy_with"] == 1.0 and out["n"] == 12
    assert out["accuracy_without"] == pytest.approx(out["chance"]) == pytest.approx(1 / 3)  # a constant guess
    assert out["accuracy_drop"] == pytest.approx(2 / 3)
    assert out["true_class_probability_drop"] > 0.5 and out["true_class_probability_drop_ci95"][0] > 0.3
    assert out["accuracy_with_ci95"][0] > 0.7 and out["interval"]["accuracy"] == "Clopper-Pearson"
    assert out["wilcoxon_p"] < 0.01 and out["prediction_changed"] == pytest.approx(2 / 3)
    # the same clips on both sides: nothing changes, and nothing is claimed
    same = shortcut_check(AudioModel(f, CPU), p.mixtures, p.mixtures, p.labels)
    assert same["true_class_probability_drop"] == 0.0 and same["wilcoxon_p"] == 1.0 and same["accuracy_drop"] == 0
    # below 10 clips: the estimate, no interval
    few = shortcut_check(f, p.mixtures[:6], p.clean[:6], p.labels[:6])
    assert np.isnan(few["accuracy_with_ci95"]).all() and np.isnan(few["true_class_probability_drop_ci95"]).all()
    # the support of the marker holds the toy's evidence
    sup = marker_support(p.markers, p.clean, CPU)
    assert sup.shape == (12, CPU.n_freq, CPU.n_frames(1.0)) and 0 < sup.mean() < 0.01
    for bad in (dict(labels=p.labels[:3]), dict(labels=p.labels + 5), dict(without_marker=p.clean[:, :100])):
        kw = dict(with_marker=p.mixtures, without_marker=p.clean, labels=p.labels) | bad
        with pytest.raises(ParameterError):
            shortcut_check(f, **kw)


class BandMaxNet(nn.Module):
    """A tiny learnable f: each mel band's loudest frame, then a linear layer (nothing built in about markers)."""

    def __init__(self, n_classes):
        super().__init__()
        self.linear = nn.Linear(CPU.n_mels, n_classes)
        self.n_classes, self.multilabel, self.preset = n_classes, False, CPU

    def forward(self, x):
        return self.linear(x.amax(-1) / 20.0)


def _noise(n_per_split: dict, classes=("c0", "c1", "c2"), seconds: float = 1.0) -> AudioDataset:
    """White noise of a random level: nothing about the class, anywhere."""
    recs = []
    for split, n in n_per_split.items():
        for c in classes:
            for i in range(n):
                rng = np.random.default_rng(100 + len(recs))
                y = rng.uniform(0.05, 0.5) * rng.standard_normal(int(SR * seconds))
                recs.append(Record(uid=f"{split}-{c}-{i}", labels=(c,), split=split, waveform=y.astype(np.float32),
                                   sr=SR))
    return AudioDataset("noise", recs, list(classes), duration=seconds)


def test_an_f_trained_on_planted_clips_relies_on_the_marker():
    """f learns from clips whose only class information is the marker; removing the marker from its test clips
    is then measured to take f from right to chance (the drop of the true class's probability, its interval
    above 0, a one-sided test)."""
    ds = _noise({"train": 10, "test": 5})
    p = planted_dataset(ds, CPU, seed=0)
    fe = FrontEnd(CPU)
    train = p.dataset.split("train")
    with torch.no_grad():
        x = fe.logmel(torch.from_numpy(train.load_batch(None, CPU)))
    y = torch.from_numpy(train.targets())
    torch.manual_seed(0)
    f = BandMaxNet(3)
    opt = torch.optim.Adam(f.parameters(), lr=0.05)
    for _ in range(150):  # full batch: well under a second
        opt.zero_grad()
        nn.functional.cross_entropy(f(x), y).backward()
        opt.step()
    f.eval()
    out = shortcut_check(f, p.mixtures, p.clean, p.labels)
    assert out["n"] == 15 and out["accuracy_with"] >= 0.9, out
    assert out["accuracy_without"] <= 0.6 and out["accuracy_drop"] >= 0.4, out
    assert out["true_class_probability_drop_ci95"][0] > 0.1 and out["wilcoxon_p"] < 0.01, out
    # trained on clean clips instead, f has nothing to lose
    clean = torch.from_numpy(np.stack([ds.load(r, CPU) for r in ds.split("train")]))
    with torch.no_grad():
        xc = fe.logmel(clean)
    torch.manual_seed(0)
    g = BandMaxNet(3)
    opt = torch.optim.Adam(g.parameters(), lr=0.05)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(g(xc), y).backward()
        opt.step()
    base = shortcut_check(g.eval(), p.mixtures, p.clean, p.labels)
    assert base["accuracy_with"] <= 0.6 and base["wilcoxon_p"] > 0.05
    assert abs(base["true_class_probability_drop"]) < out["true_class_probability_drop"]


# -- end to end, on real ESC-10 clips ------------------------------------------------------------------------
def _small_esc10(root):
    """2 train clips of each ESC-10 class, 1 validation, 1 test."""
    from l2i_core.data import load_dataset

    ds = load_dataset("esc10", data_dir=root)
    keep, seen = [], {}
    for i, r in enumerate(ds):
        n = {"train": 2, "validation": 1, "test": 1}[r.split]
        if seen.get((r.split, r.label), 0) < n:
            seen[(r.split, r.label)] = seen.get((r.split, r.label), 0) + 1
            keep.append(i)
    return ds.subset(keep)


@pytest.mark.realdata
@pytest.mark.slow
def test_band_blind_study_end_to_end_on_esc10(esc10_root, tmp_path):
    from l2i_core.pipeline.run import run_config

    small = _small_esc10(esc10_root)
    cfg = run_config(dataset="esc10", preset="cpu", artifacts_dir=tmp_path, quick=True)
    methods = ("l2i-attention", "saliency", "random")
    st = model_truth_study(cfg, small, "band", methods=methods, epochs=1, explainer_epochs=1, n_clips=4, progress=False)
    t = st.table().set_index("method")
    assert list(t.index) == ["L2I (attention)", "Saliency", "random"] and (t["rows"] == 4).all()
    assert t.loc["Saliency", "mass inside"] == 1.0  # a gradient cannot reach what f does not see
    assert np.allclose(t["chance"], 0.1735, atol=0.001)  # the share of the STFT plane under 2 kHz filters
    assert abs(t.loc["random", "mass inside"] - t.loc["random", "chance"]) < 0.01
    assert 0.0 <= t.loc["L2I (attention)", "mass inside"] <= 1.0
    assert (tmp_path / "model_truth" / "band" / "blind.pt").is_file()
    rec = json.loads(json.dumps(st.record(), allow_nan=False))
    assert rec["region"]["kind"] == "band" and rec["classifier"]["test_clips"] == 4
    again = model_truth_study(cfg, small, "band", methods=methods[:1], epochs=1, explainer_epochs=1, n_clips=4,
                              progress=False)
    assert again.messages[0].startswith("reused") and again.messages[1].startswith("reused")
    pd_equal = again.scores[["mass_inside", "rank_accuracy"]].to_numpy()
    np.testing.assert_allclose(pd_equal, st.scores[st.scores["method"] == "L2I (attention)"][
        ["mass_inside", "rank_accuracy"]].to_numpy())


@pytest.mark.realdata
@pytest.mark.slow
def test_planted_study_end_to_end_on_esc10(esc10_root, tmp_path):
    """The planted kind on real clips (f trained 2 epochs: the plumbing, not f's quality): the shortcut check is
    reported, every row is scored against its clip's marker support, the marker's own ideal ratio mask finds it
    far above chance while identity scores chance exactly, and a second run reuses f."""
    from l2i_core.pipeline.run import run_config

    small = _small_esc10(esc10_root)
    cfg = run_config(dataset="esc10", preset="cpu", artifacts_dir=tmp_path, quick=True)
    methods = ("saliency", "random", "identity", "oracle")
    st = model_truth_study(cfg, small, "planted", methods=methods, n_clips=4, progress=False)
    t = st.table().set_index("method")
    assert st.kind == "planted" and list(t.index) == ["Saliency", "random", "identity", "oracle IRM"]
    assert list(st.table().columns) == list(TABLE_COLUMNS) and (t["rows"] == 4).all()
    s = st.shortcut
    assert s["n"] == 4 and 0 <= s["accuracy_with"] <= 1 and np.isfinite(s["true_class_probability_drop"])
    assert (st.scores["target"] == st.scores["label"]).all()  # the true class (its marker) is explained
    assert 0 < t.loc["identity", "chance"] < 0.01  # a 0.5 s tone is a small part of the plane
    assert t.loc["identity", "mass inside"] == pytest.approx(t.loc["identity", "chance"], rel=1e-6)
    assert t.loc["oracle IRM", "mass inside"] > 20 * t.loc["oracle IRM", "chance"]
    assert t.loc["oracle IRM", "rank accuracy"] > 0.8
    assert (tmp_path / "model_truth" / "planted" / "classifier.pt").is_file()
    assert any("Removing the marker" in x for x in st.sentences())
    rec = json.loads(json.dumps(st.record(), allow_nan=False))
    assert rec["shortcut"]["n"] == 4 and rec["scoring"]["explained"] == "the true class"
    again = model_truth_study(cfg, small, "marker", methods=("identity",), n_clips=4, progress=False)
    assert again.kind == "planted" and again.messages[0].startswith("reused")


def test_relies_on_marker_needs_changed_decisions_and_a_lower_accuracy():
    """Known answers: unchanged decisions (as measured on esc10's planted f) are no reliance; a large change is."""
    from l2i_core.evaluate.model_truth import RELIANCE_MIN_CHANGED, relies_on_marker

    assert not relies_on_marker({"prediction_changed": 0.0, "accuracy_drop": 0.0})
    assert not relies_on_marker({"prediction_changed": RELIANCE_MIN_CHANGED / 2, "accuracy_drop": 0.02})
    assert not relies_on_marker({"prediction_changed": 0.5, "accuracy_drop": -0.1})  # changed, but not for the worse
    assert relies_on_marker({"prediction_changed": RELIANCE_MIN_CHANGED, "accuracy_drop": 0.05})
