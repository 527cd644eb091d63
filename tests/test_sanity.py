"""The randomisation sanity check (``pipeline.sanity``), every method judged against its own control, on tiny
models whose answers are known by construction: a mask that ignores f fails, Saliency on a randomised f passes,
an unstable control cannot judge, fewer than 10 clips give no verdict; multi-class and multi-label f; L2I and
L-MAC retrained by the built-in recipe on tiny data."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch
from _toys import toy_explainer

from l2i_core._errors import ParameterError
from l2i_core.data.records import AudioDataset, Record
from l2i_core.explain.gradients import GradientMask
from l2i_core.explain.interface import Explainer
from l2i_core.explain.lmac import LMACMask
from l2i_core.explain.references import RandomMask
from l2i_core.models.lmac import LMACDecoder
from l2i_core.pipeline import sanity
from l2i_core.pipeline.run import run_config
from l2i_core.pipeline.sanity import SANITY_CONTROL, judge_sanity, recipe_epochs, sanity_sentences, sanity_study

SR, SECONDS, C, N = 22_050, 0.25, 3, 12


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: the tensors are tiny and the 2-core machine is shared (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _clips(n: int, seed: int) -> np.ndarray:
    """Tones of three pitches in turn under noise: ``(n, SR * SECONDS)``."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * SECONDS)) / SR
    return np.stack([0.5 * np.sin(2 * np.pi * (200 + 300 * (i % C)) * t) + 0.1 * rng.standard_normal(len(t))
                     for i in range(n)]).astype(np.float32)


@pytest.fixture(scope="module")
def toy():
    """A random multi-class f (AudioCNN) with an attention L2I on it, and N clips."""
    l2i, _ = toy_explainer(seconds=SECONDS, C=C, K=8)
    l2i.detail = False
    return l2i, l2i.model, _clips(N, 0)


@pytest.fixture(scope="module")
def toy_multilabel():
    l2i, _ = toy_explainer(multilabel=True, seconds=SECONDS, C=C, K=8, seed=2)
    return l2i.model, _clips(N, 1)


def _cfg(tmp_path=None, **kw):
    return run_config(dataset="esc10", seed=0, **({"artifacts_dir": str(tmp_path)} if tmp_path else {}), **kw)


class FixedMask(Explainer):
    """A mask that ignores f entirely: the same fixed pattern (drawn from ``seed``) for every clip and class."""

    name = "fixed"

    def __init__(self, model, *, seed: int = 0, name: str | None = None):
        super().__init__(model, name)
        self.seed = seed

    def masks(self, x, target, V, f_logits, *, stems=None):
        one = np.random.default_rng(self.seed).random(tuple(V.shape[1:]), dtype=np.float32)
        return torch.from_numpy(np.broadcast_to(one, tuple(V.shape)).copy()), {}


def test_a_mask_that_ignores_f_has_its_controls_rho_and_fails(toy):
    _, model, x = toy
    # untrained (its control: itself) and "trained" (retrained by a trainer that ignores f and the seed)
    fixed = FixedMask(model)
    trained = FixedMask(model, name="fixed, trained")
    study = sanity_study(_cfg(), None, model, [fixed, trained], x=x, progress=False,
                         trainers={"fixed, trained": lambda m, *, seed, epochs: FixedMask(m, name="fixed, trained")})
    for name in ("fixed", "fixed, trained"):
        rho = study.rho[study.rho["method"] == name]
        assert set(rho["randomised"]) == {SANITY_CONTROL, "output layer", "all layers"}
        assert np.allclose(rho["rho"], 1.0)  # randomised ρ = control ρ, clip by clip
        assert study.verdict(name) == "fails"
    t = study.table[study.table["method"] == "fixed"].set_index("randomised")
    assert t.loc["all layers", "n_pairs"] == N and t.loc["all layers", "p_value"] == 1.0
    assert not t.loc["all layers", "rejects"] and t.loc["all layers", "separated"] is False
    assert int(t.loc["output layer", "family"]) == 4  # Holm over every test of the table
    assert study.rho.loc[study.rho["method"] == "fixed, trained", "seed"].eq(1).all()  # control_seed = seed + 1
    sentences = sanity_sentences(study)
    assert len(sentences) == 2 and sentences[0].startswith("fixed fails: ")
    assert "retrained with seed 1 on the same f" in sentences[1]


def test_saliency_changes_on_a_randomised_f_and_passes_while_a_seeded_random_mask_fails(toy):
    _, model, x = toy
    study = sanity_study(_cfg(), None, model, [GradientMask(model, "saliency"), RandomMask(model, seed=3)], x=x,
                         progress=False)
    sal = study.table[study.table["method"] == "Saliency"].set_index("randomised")
    assert sal.loc[SANITY_CONTROL, "rho"] == pytest.approx(1.0)  # a deterministic method is its own control
    assert sal.loc["output layer", "rho"] < 0.9 and sal.loc["all layers", "rho"] < 0.9
    assert sal.loc["all layers", "n"] == N and np.isfinite(sal.loc["all layers", "low"])
    assert sal.loc["all layers", "p_holm"] < 0.05 and bool(sal.loc["all layers", "separated"])
    assert study.verdict("Saliency") == "passes"
    # the random mask draws the same masks from the same generator state whatever f: it fails
    assert study.verdict("random") == "fails"
    assert np.allclose(study.rho.loc[study.rho["method"] == "random", "rho"], 1.0)
    assert study.record()["verdicts"][0]["verdict"] == "passes"


def test_an_unstable_control_cannot_judge(toy):
    _, model, x = toy

    def noise(m, *, seed, epochs):  # "training" that lands anywhere: a mask drawn from the training seed
        return RandomMask(m, seed=100 + seed, name="unstable")

    study = sanity_study(_cfg(), None, model, [RandomMask(model, seed=100, name="unstable")], x=x,
                         progress=False, trainers={"unstable": noise}, epochs=3)
    v = study.verdicts.iloc[0]
    assert v["verdict"] == "cannot judge" and abs(v["control_rho"]) < 0.1
    assert "control is unstable" in v["reason"] and f"< {sanity.CONTROL_MIN_RHO:g}" in v["reason"]
    assert study.budgets == {"unstable": 3} and study.rho["epochs"].eq(3).all()
    assert "unstable cannot judge" in sanity_sentences(study)[0]
    # a control of seed 1 given (build_explainers(seeds=...)) is used as it is; other seeds are left out
    given = RandomMask(model, seed=101, name="unstable")
    given.training_seed = 1
    other = RandomMask(model, seed=102, name="unstable")
    other.training_seed = 2
    again = sanity_study(_cfg(), None, model, [RandomMask(model, seed=100, name="unstable"), given, other], x=x,
                         progress=False, trainers={"unstable": noise})
    ctrl = again.rho[again.rho["randomised"] == SANITY_CONTROL]
    assert ctrl["source"].eq("the explainer of seed 1 given").all()
    assert np.allclose(ctrl["rho"], study.rho.loc[study.rho["randomised"] == SANITY_CONTROL, "rho"])
    assert any("seed 2 not used" in note for note in again.notes)


def test_fewer_than_ten_clips_give_no_verdict(toy):
    _, model, x = toy
    study = sanity_study(_cfg(), None, model, [GradientMask(model, "saliency")], x=x, n_clips=8, progress=False)
    v = study.verdicts.iloc[0]
    assert v["verdict"] == "cannot judge" and "n = 8 < 10" in v["reason"]
    assert study.table["low"].isna().all() and study.table["p_value"].isna().all()
    assert (study.table["n"] == 8).all()


def test_a_multilabel_f_explains_its_top_class_or_the_targets_given(toy_multilabel):
    model, x = toy_multilabel
    assert model.multilabel
    explainers = [GradientMask(model, "saliency"), FixedMask(model)]
    study = sanity_study(_cfg(), None, model, explainers, x=x, progress=False)
    top = model.logits(x).argmax(1).numpy()
    rows = study.rho[(study.rho["method"] == "Saliency") & (study.rho["randomised"] == SANITY_CONTROL)]
    assert rows["target"].tolist() == top.tolist()  # one row per clip, f's top class
    assert study.verdict("Saliency") == "passes" and study.verdict("fixed") == "fails"
    given = sanity_study(_cfg(), None, model, [GradientMask(model, "saliency")], x=x, targets=[2] * N,
                         progress=False)
    assert given.rho["target"].eq(2).all() and given.verdict("Saliency") == "passes"


def test_judgement_of_known_correlations():
    clips = np.arange(12)

    def frame(method, control, randomised):
        return pd.DataFrame({"method": method, "randomised": [SANITY_CONTROL] * 12 + ["output layer"] * 12 + ["all layers"] * 12,
                             "clip": np.r_[clips, clips, clips], "rho": np.r_[control, randomised, randomised]})

    step = np.linspace(0.0, 0.03, 12) ** 2  # distinct differences: scipy's exact Wilcoxon (ties go to a slow permutation)
    df = pd.concat([frame("separated", 0.9 - step, np.linspace(0.0, 0.3, 12)),
                    frame("same", np.full(12, 0.9), np.full(12, 0.9)),
                    frame("higher", 0.6 - step, np.full(12, 0.95)),  # one-sided: more similar is no pass
                    frame("unstable", 0.2 - step, np.full(12, -0.5))], ignore_index=True)
    table, verdicts = judge_sanity(df)
    assert dict(zip(verdicts["method"], verdicts["verdict"])) == {
        "separated": "passes", "same": "fails", "higher": "fails", "unstable": "cannot judge"}
    assert set(table["family"].dropna().astype(int)) == {0, 8}  # 8 tests corrected together (controls: 0)
    tested = table[table["randomised"] != SANITY_CONTROL]
    assert (tested["p_holm"] >= tested["p_value"]).all()
    _, verdicts = judge_sanity(df, threshold=0.1)  # the threshold decides what an unstable control is
    assert verdicts.set_index("method").loc["unstable", "verdict"] == "passes"
    with pytest.raises(ParameterError, match="no control rows"):
        judge_sanity(df[df["randomised"] != SANITY_CONTROL])
    with pytest.raises(ParameterError, match="no column"):
        judge_sanity(df.drop(columns="rho"))
    with pytest.raises(ParameterError, match="alpha"):
        judge_sanity(df, alpha=1.5)


def test_clear_errors(toy):
    l2i, model, x = toy
    sal = GradientMask(model, "saliency")
    with pytest.raises(ParameterError, match="batch of waveforms"):
        sanity_study(_cfg(), None, model, [sal], x=x[0], progress=False)
    with pytest.raises(ParameterError, match="not among the explainers"):
        sanity_study(_cfg(), None, model, [sal], x=x, trainers={"L-MAC": lambda m, **kw: sal}, progress=False)
    with pytest.raises(ParameterError, match="another training seed"):
        sanity_study(_cfg(), None, model, [l2i], x=x, control_seed=0, progress=False)
    with pytest.raises(ParameterError, match="positive int"):
        sanity_study(_cfg(), None, model, [sal], x=x, trainers={"Saliency": lambda m, **kw: sal}, epochs=0,
                     progress=False)
    with pytest.raises(ParameterError, match="another randomization_seed"):  # the toy f is seed 0's initialisation
        sanity_study(_cfg(), None, model, [sal], x=x, randomization_seed=0, progress=False)
    with pytest.raises(ParameterError, match="SanityStudy"):
        sanity_sentences(pd.DataFrame())


def _tiny_data(multilabel: bool) -> AudioDataset:
    """Six training and four validation clips of three classes (what the built-in retraining reads); multi-label:
    each clip also holds the next class."""
    def labels(i):
        return (f"c{i % C}", f"c{(i + 1) % C}") if multilabel else (f"c{i % C}",)

    recs = [Record(f"r{i}", labels(i), "train", waveform=w, sr=SR) for i, w in enumerate(_clips(6, 2))]
    recs += [Record(f"v{i}", labels(i), "validation", waveform=w, sr=SR) for i, w in enumerate(_clips(4, 3))]
    return AudioDataset("toy", recs, [f"c{i}" for i in range(C)], multilabel=multilabel, duration=SECONDS)


@pytest.mark.parametrize("multilabel", [False, True])
def test_l2i_and_lmac_are_retrained_by_their_recipe_with_one_budget(multilabel, tmp_path):
    """The built-in retraining: control and randomised rows trained with the same seed and epochs (in a scratch
    folder: no classifier.pt in this run, so nothing is reused or written to the artifacts)."""
    l2i, _ = toy_explainer(multilabel=multilabel, seconds=SECONDS, C=C, K=8, seed=2)
    model, x = l2i.model, _clips(4, 4)
    chans = [model.classifier.arch.channels[t - 1] for t in model.classifier.arch.taps]
    torch.manual_seed(0)
    decoder = LMACDecoder(chans, 513, 1 + x.shape[1] // 512, n_masks=C if multilabel else 1, width=8, head_width=4)
    lmac = LMACMask(decoder, model)
    study = sanity_study(_cfg(tmp_path), _tiny_data(multilabel), model, [l2i, lmac], x=x, epochs=1, progress=False)
    assert study.budgets == {"L2I (attention)": 1, "L-MAC": 1}
    trained = study.rho.drop_duplicates(["method", "randomised"])
    assert len(trained) == 6 and trained["seed"].eq(1).all() and trained["epochs"].eq(1).all()
    assert trained["source"].str.startswith("trained here for 1 epoch").all()
    assert (trained["seconds"] > 0).all()
    assert set(study.verdicts["verdict"]) == {"cannot judge"}  # 4 clips: no verdict
    assert list(tmp_path.iterdir()) == []  # nothing written to the run's artifacts


def test_the_recipe_is_the_sidecars_budget(toy, tmp_path):
    l2i, model, _ = toy
    lmac = LMACMask(LMACDecoder([16, 32, 64], 513, 11, n_masks=1, width=8, head_width=4), model)
    multiclass = _tiny_data(False)
    assert recipe_epochs(_cfg(tmp_path), multiclass, l2i) == 35 and recipe_epochs(_cfg(tmp_path), multiclass, lmac) == 40
    assert recipe_epochs(_cfg(tmp_path, quick=True), multiclass, lmac) == 2  # a quick run's interpreter_epochs
    (tmp_path / "interpreter_attention.json").write_text(json.dumps({"config": {"epochs": 7}}))
    (tmp_path / "lmac.json").write_text(json.dumps({"history": [{}] * 5}))
    assert recipe_epochs(_cfg(tmp_path), multiclass, l2i) == 7 and recipe_epochs(_cfg(tmp_path), multiclass, lmac) == 5
    with pytest.raises(ParameterError, match="training recipe"):
        recipe_epochs(_cfg(tmp_path), multiclass, GradientMask(model, "saliency"))


def test_retrainings_on_a_randomised_f_are_kept_and_reused(tmp_path):
    """With the run's own f on disk, each retraining on a randomised f is kept under ``sanity/<part>/seed-<s>``
    and a second check reuses it: the same masks, so the same correlations, with no training."""
    from l2i_core.models.checkpoints import save_classifier
    from l2i_core.pipeline.sanity import RANDOMISATIONS, sanity_dir

    l2i, _ = toy_explainer(seconds=SECONDS, C=C, K=8, seed=2)
    model, x = l2i.model, _clips(4, 4)
    clf = model.classifier
    save_classifier(clf, tmp_path, meta={"classes": list(model.classes), "preset": model.preset.name,
                                         "multilabel": False, "arch": dataclasses.asdict(clf.arch)})
    chans = [clf.arch.channels[t - 1] for t in clf.arch.taps]
    torch.manual_seed(0)
    lmac = LMACMask(LMACDecoder(chans, 513, 1 + x.shape[1] // 512, n_masks=1, width=8, head_width=4), model)
    first = sanity_study(_cfg(tmp_path), _tiny_data(False), model, [l2i, lmac], x=x, epochs=1, progress=False)
    for part in RANDOMISATIONS:
        kept = sanity_dir(_cfg(tmp_path), part, 1)
        assert {"interpreter_attention.pt", "lmac.pt"} <= {p.name for p in kept.iterdir()}
    again = sanity_study(_cfg(tmp_path), _tiny_data(False), model, [l2i, lmac], x=x, epochs=1, progress=False)
    rand = again.rho[again.rho["randomised"] != SANITY_CONTROL].drop_duplicates(["method", "randomised"])
    assert len(rand) == 2 * len(RANDOMISATIONS) and rand["source"].str.startswith("reused the retraining kept").all()
    key = ["method", "randomised", "clip"]
    a = first.rho[first.rho["randomised"] != SANITY_CONTROL].set_index(key)["rho"]
    b = again.rho[again.rho["randomised"] != SANITY_CONTROL].set_index(key)["rho"]
    np.testing.assert_allclose(b.loc[a.index].to_numpy(), a.to_numpy(), rtol=0, atol=1e-6)
