"""The listening lab driven without a browser, and the static gallery, on a tiny random explainer."""

from __future__ import annotations

import numpy as np
import pytest
from _toys import toy_explainer

from l2i_core import ParameterError
from l2i_core.data.records import AudioDataset, Record
from l2i_core.report.widgets import ListeningLab, clip_correctness, gallery, interpretation_from_components

SR = 22050
C, K = 3, 8
CLASSES = [f"c{i}" for i in range(C)]


def _explainer(multilabel=False, seconds=1.0, seed=0):
    return toy_explainer(multilabel, seconds, C, K, seed)


def _clips(B, n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    return np.stack([0.3 * np.sin(2 * np.pi * (200 + 150 * i) * t) * (1 + np.sin(2 * np.pi * (i + 1) * t))
                     + 0.05 * rng.standard_normal(n) for i in range(B)]).astype(np.float32)


def _dataset(ex, n, B=6, multilabel=False):
    """Test clips labelled so that f is right on about half of them (and wrong on the rest)."""
    x = _clips(B, n)
    recs = [Record(uid=f"u{i}", labels=["c0"], split="test", waveform=x[i], sr=SR) for i in range(B)]
    ds = AudioDataset("toy", recs, CLASSES, multilabel=multilabel, duration=n / SR, licence="toy licence")
    logits = ex.model.logits(ds.load_batch(None, "cpu")).numpy()
    for i, r in enumerate(recs):
        if multilabel:
            on = (1 / (1 + np.exp(-logits[i])) > ex.f_thresholds).tolist()  # strict, as the official code
            if i % 2:  # wrong: flip one decision
                on[i % C] = not on[i % C]
            r.labels = tuple(c for c, o in zip(CLASSES, on) if o)
        else:
            pred = int(logits[i].argmax())
            r.labels = (CLASSES[pred if i % 2 == 0 else (pred + 1) % C],)
    ds = AudioDataset("toy", recs, CLASSES, multilabel=multilabel, duration=n / SR, licence="toy licence")
    return ds, logits


@pytest.fixture(scope="module")
def toy():
    """A multi-class explainer and 6 test clips."""
    ex, n = _explainer()
    ds, _ = _dataset(ex, n)
    return ex, ds


@pytest.fixture(scope="module")
def toy_multilabel():
    """A multi-label explainer, 4 test clips and f's logits on them."""
    ex, n = _explainer(multilabel=True, seed=1)
    ds, logits = _dataset(ex, n, B=4, multilabel=True)
    return ex, ds, logits


@pytest.fixture(scope="module")
def lab(toy):
    return ListeningLab(*toy, plots=False)


def _components(it) -> np.ndarray:
    """The kept components of a one-row explanation."""
    return it.extras["components"][0]


def _expected_spectrogram(ex, it, comps):
    W = ex.W.numpy().astype(np.float64)
    H = it.extras["H"][0].astype(np.float64)
    full = W @ H + ex.eps
    M = sum(np.outer(W[:, k], H[k]) / full for k in comps) if len(comps) else np.zeros_like(full)
    return M * it.V[0]


def test_initial_state_matches_explainer_attribute(lab):
    ex = lab.explainer
    assert lab.clip_select.value == 0 and len(lab.clip_select.options) == len(lab.clips)
    it = lab.current
    ref = ex.attribute(lab.clips.load(0, "cpu"), it.target, tau=lab.tau, top_k=lab.top_k)[0]
    assert int(it.target[0]) == int(lab.f_logits[0].argmax()) == lab.target_select.value
    assert _components(it).tolist() == _components(ref).tolist() == lab.enabled
    np.testing.assert_allclose(it.spectrogram, ref.spectrogram, atol=1e-6)
    np.testing.assert_allclose(it.audio, ref.audio, atol=1e-6)
    assert lab.widget.children and lab.tau_slider.min == 0 and lab.tau_slider.max == pytest.approx(0.95)
    assert lab.topk_slider.min == 1 and lab.topk_slider.max == K
    assert all(not a.autoplay and not a.loop and a.format == "ogg" for a in lab.player_widgets.values())
    assert "toy licence" in lab.licence.value


def test_class_filter_restricts_clip_list(lab):
    offered = [v for _, v in lab.class_select.options]
    # every class with clips is offered (with its count), after "all classes"
    assert offered == [-1] + sorted({CLASSES.index(r.label) for r in lab.clips})
    try:
        for c in offered[1:]:
            lab.class_select.value = c
            shown = [v for _, v in lab.clip_select.options]
            assert shown == [i for i, r in enumerate(lab.clips) if r.labels == (CLASSES[c],)] and shown
            assert lab.clip_select.value in shown and lab.current.clip[0] == lab.clip_select.value
            assert lab.clips[int(lab.current.clip[0])].label == CLASSES[c]
            # the class and correctness filters combine; an empty combination shows nothing
            for choice in ("correct", "wrong"):
                lab.correct_select.value = choice
                both = [v for _, v in lab.clip_select.options]
                want = lab.correct if choice == "correct" else ~lab.correct
                assert both == [i for i in shown if want[i]]
                if not both:
                    assert lab.clip_select.value is None and lab.current is None and lab.players == []
            lab.correct_select.value = "all"
    finally:
        lab.class_select.value = -1
        lab.correct_select.value = "all"
    assert len(lab.clip_select.options) == len(lab.clips)


def test_correct_wrong_filter_agrees_with_f(lab):
    x = lab.clips.load_batch(None, "cpu")
    pred = lab.explainer.analyse(x).f_logits.argmax(1).numpy()
    truth = lab.clips.targets()
    try:
        for choice, want in (("correct", pred == truth), ("wrong", pred != truth)):
            lab.correct_select.value = choice
            shown = [v for _, v in lab.clip_select.options]
            assert shown == np.flatnonzero(want).tolist() and shown  # the toy data has both kinds
            lab.clip_select.value = shown[-1]
            assert lab.current.clip[0] == shown[-1]
    finally:
        lab.correct_select.value = "all"


def test_tau_selects_exactly_relevant_components_and_topk_caps(lab):
    lab.clip_select.value = 1
    lab.topk_all.value = True
    for tau in (0.0, 0.3, 0.6, 0.9):
        lab.tau_slider.value = tau
        r = lab.relevance()
        want = set(np.flatnonzero(r > lab.tau).tolist())
        assert set(lab.enabled) == want == set(_components(lab.current).tolist())
        assert all(k in lab.component_toggles for k in want)
    lab.tau_slider.value = 0.0
    n_all = len(_components(lab.current))
    lab.topk_all.value = False
    for k in (1, 2):
        lab.topk_slider.value = k
        r = lab.relevance()
        assert len(_components(lab.current)) == min(k, n_all)
        assert _components(lab.current).tolist() == np.argsort(-r, kind="stable")[: min(k, n_all)].tolist()
    assert lab.topk_slider.disabled is False


def test_toggle_off_removes_component_and_spectrogram_is_sum_of_masks(lab):
    lab.clip_select.value = 0
    lab.topk_all.value = True
    lab.tau_slider.value = 0.0
    on = list(lab.enabled)
    assert len(on) >= 2, "the toy interpreter should give at least two positive components"
    drop = on[1]
    lab.component_toggles[drop].value = False
    it = lab.current
    assert drop not in _components(it).tolist() and _components(it).tolist() == [k for k in on if k != drop]
    np.testing.assert_allclose(it.spectrogram[0], _expected_spectrogram(lab.explainer, it, _components(it)), atol=1e-5)
    np.testing.assert_allclose(it.mask[0], it.extras["component_masks"][0].sum(0), atol=1e-6)
    assert lab.players == ["original", "interpretation"] + [f"component {k}" for k in _components(it)] + ["residual"]
    assert set(lab.player_widgets) == set(lab.players)
    # switching it on again brings it back; switching everything off leaves silence and the whole input as residual
    lab.component_toggles[drop].value = True
    assert _components(lab.current).tolist() == on
    for k in on:
        lab.component_toggles[k].value = False
    it = lab.current
    assert _components(it).size == 0 and lab.players == ["original", "interpretation", "residual"]
    assert np.abs(it.audio[0]).max() < 1e-6
    np.testing.assert_allclose(it.extras["residual_audio"][0], lab.analysis(0).x[0].numpy(), atol=1e-3)
    # moving τ again re-selects from relevance
    lab.tau_slider.value = 0.05
    assert set(_components(lab.current).tolist()) == set(np.flatnonzero(lab.relevance() > 0.05).tolist())


def test_analysis_is_cached_per_clip(lab, monkeypatch):
    lab.clip_select.value = 0
    calls = []
    orig = lab.explainer.analyse
    monkeypatch.setattr(lab.explainer, "analyse", lambda x: calls.append(1) or orig(x))
    for tau in (0.1, 0.4):
        lab.tau_slider.value = tau
    lab.topk_slider.value = 1
    lab.clip_select.value = 0
    assert calls == []


def test_target_selection_multilabel(toy_multilabel):
    ex, ds, logits = toy_multilabel
    lab = ListeningLab(ex, ds, max_clips=3, plots=False)
    assert len(lab.clips) == 3
    probs = 1 / (1 + np.exp(-logits[:3]))
    for i in range(3):
        lab.clip_select.value = i
        pred = np.flatnonzero(probs[i] > ex.f_thresholds)
        want = int(pred[np.argmax(probs[i][pred])]) if pred.size else int(np.argmax(probs[i]))
        assert lab.current.target[0] == lab.target_select.value == want
    # correct means: thresholded decisions equal the labels exactly
    exact = ((probs > ex.f_thresholds) == (ds.label_matrix()[:3] > 0)).all(1)
    np.testing.assert_array_equal(lab.correct, exact)
    assert exact.any() and not exact.all()
    lab.clip_select.value = 0
    for c in range(C):
        lab.target_select.value = c
        assert lab.current.target[0] == c and lab.current.extras["class_name"][0] == CLASSES[c]
        ref = interpretation_from_components(ex, lab.analysis(0), c, _components(lab.current), with_audio=False)
        np.testing.assert_allclose(lab.current.extras["relevance"], ref.extras["relevance"])
        np.testing.assert_allclose(lab.current.spectrogram, ref.spectrogram, atol=1e-6)


def test_clip_correctness_and_bad_arguments(toy):
    logits = np.array([[2.0, -1.0], [-1.0, 2.0]])
    Y = np.array([[1, 0], [1, 0]])
    assert clip_correctness(logits, Y, multilabel=False).tolist() == [True, False]
    assert clip_correctness(logits, Y, multilabel=True).tolist() == [True, False]
    assert clip_correctness(logits, np.array([[1, 1], [0, 1]]), multilabel=True, thresholds=[0.5, 0.2]).tolist() == \
        [True, True]
    ex, ds = toy
    with pytest.raises(ParameterError, match="max_clips"):
        ListeningLab(ex, ds, max_clips=0)
    with pytest.raises(ParameterError, match="classes"):
        ListeningLab(ex, AudioDataset("toy", ds.records, CLASSES[::-1], duration=ds.duration))
    with pytest.raises(ParameterError, match="atom indices"):
        interpretation_from_components(ex, ex.analyse(ds.load(0, "cpu")), 0, [K])


def test_lab_plots_into_output(toy):
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    lab = ListeningLab(*toy, max_clips=2)
    lab.tau_slider.value = 0.5
    assert len(plt.get_fignums()) == before  # figures are closed after display


def test_gallery_is_static_html(toy, toy_multilabel):
    ex, ds = toy
    g = gallery(ex, ds, per_class=1, top_k=3)
    text = g._repr_html_()
    assert "<audio controls" in text and "data:image/png;base64" in text and "data:audio/ogg;base64" in text
    n_classes = len({r.labels[0] for r in ds})
    assert len(g) == n_classes and text.count("<tr>") == n_classes + 1
    assert text.count("<audio controls") == 3 * n_classes and "toy licence" in text
    assert all(len(k) <= 3 for k in g.explanation.extras["components"])
    assert "<script" not in text and len(text) < 2_000_000
    capped = gallery(ex, ds, per_class=3, max_clips=2)
    assert len(capped) == 2 and "the first 2 of 6 shown" in capped.html
    ml, ds2, _ = toy_multilabel
    assert "<audio controls" in gallery(ml, ds2.subset([0, 1])).html


def test_widgets_carry_css_hooks_for_the_browser(lab):
    """`l2i lab` serves the lab as a page; tests/test_lab_browser.py finds its widgets by these classes."""
    assert "l2i-tau" in lab.tau_slider._dom_classes and "l2i-plots" in lab.output._dom_classes
    assert "l2i-lab" in lab.widget._dom_classes and "l2i-info" in lab.info._dom_classes
    assert lab.component_toggles and all("l2i-component" in t._dom_classes for t in lab.component_toggles.values())
    assert {"l2i-player", "l2i-player-interpretation"} <= set(lab.player_widgets["interpretation"]._dom_classes)
    comp = next(name for name in lab.players if name.startswith("component "))
    assert f"l2i-player-component-{comp.split()[1]}" in lab.player_widgets[comp]._dom_classes
