"""Classifier, FeatureTap, training (seeded, resumable, validation-selected) and evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from l2i_core import ParameterError
from l2i_core.data import AudioDataset, Record
from l2i_core.models.checkpoints import load_classifier
from l2i_core.models.classifier import AudioCNN, FeatureTap, count_parameters
from l2i_core.train.recipes import (
    TrainConfig,
    choose_thresholds,
    default_train_config,
    evaluate_classifier,
    train_classifier,
)


def test_presets_shapes_and_taps():
    cpu = AudioCNN(10, "cpu")
    assert 0.8e6 < count_parameters(cpu) < 1.5e6
    logits, maps = cpu.forward_features(torch.randn(2, 64, 216))
    assert logits.shape == (2, 10) and [m.shape[1] for m in maps] == [64, 128, 256]
    paper = AudioCNN(50, "paper")
    logits, maps = paper.forward_features(torch.randn(1, 128, 431))
    assert logits.shape == (1, 50) and [m.shape[1] for m in maps] == [128, 256, 512]
    with pytest.raises(ParameterError, match="expected log-mel input"):
        cpu(torch.randn(2, 128, 216))


def test_featuretap_on_ours_matches_forward_features():
    m = AudioCNN(5, "cpu").eval()
    x = torch.randn(2, 64, 100)
    logits, maps = FeatureTap(m, m.tap_layers)(x)
    ref_logits, ref_maps = m.forward_features(x)
    torch.testing.assert_close(logits, ref_logits)
    for a, b in zip(maps, ref_maps):
        torch.testing.assert_close(a, b)


class NotOurs(nn.Module):
    """A small user model: different layout, returns a dict."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        h = self.features(x.unsqueeze(1))
        return {"logits": self.head(h.mean(dim=(2, 3)))}


def test_featuretap_on_a_user_model_and_hooks_are_removed():
    net = NotOurs().eval()
    tap = FeatureTap(net, ["features.1", "features.4", "features.5"])
    logits, maps = tap(torch.randn(4, 32, 40))
    assert logits.shape == (4, 3)
    assert [tuple(m.shape) for m in maps] == [(4, 8, 32, 40), (4, 16, 16, 20), (4, 16, 8, 10)]
    assert all(len(mod._forward_hooks) == 0 for mod in net.modules())
    with pytest.raises(ParameterError, match="no layer"):
        FeatureTap(net, ["features.99"])
    # hooks are removed even when the forward pass fails
    with pytest.raises(RuntimeError):
        tap(torch.randn(4, 3, 32, 40, 2))
    assert all(len(mod._forward_hooks) == 0 for mod in net.modules())


def _toy_dataset(multilabel=False, n=8, seed=0):
    """Two classes that differ by pitch (multi-class) or two independent tones (multi-label)."""
    rng = np.random.default_rng(seed)
    sr, t = 8000, np.arange(8000) / 8000
    recs = []
    for split, count in (("train", n), ("validation", n // 2), ("test", n // 2)):
        for i in range(count):
            if multilabel:
                labels = tuple(c for c in ("low", "high") if rng.random() < 0.5)
                y = sum(np.sin(2 * np.pi * (300 if c == "low" else 2500) * t) for c in labels) if labels else 0 * t
            else:
                labels = (("low", "high")[i % 2],)
                y = np.sin(2 * np.pi * (300 if labels[0] == "low" else 2500) * t)
            y = y + 0.05 * rng.standard_normal(sr)
            recs.append(Record(uid=f"{split}{i}", labels=labels, split=split, waveform=y.astype(np.float32), sr=sr))
    return AudioDataset("toy", recs, ["low", "high"], multilabel=multilabel, duration=1.0)


def _cfg(**kw):
    return TrainConfig(**{"epochs": 3, "batch_size": 4, "lr": 3e-3, "progress": False, "device": "cpu", **kw})


def test_same_seed_same_weights_on_cpu(tmp_path):
    ds = _toy_dataset()
    a = train_classifier(ds, "cpu", _cfg())
    b = train_classifier(ds, "cpu", _cfg())
    for (ka, va), (kb, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    c = train_classifier(ds, "cpu", _cfg(seed=1))
    assert not torch.equal(a.model.fc.weight, c.model.fc.weight)


def test_learns_a_separable_task_and_saves_a_weights_only_checkpoint(tmp_path):
    ds = _toy_dataset(n=16)
    res = train_classifier(ds, "cpu", _cfg(epochs=8, mixup_alpha=0.0), out_dir=tmp_path)
    assert res.metric_name == "accuracy" and res.best_metric >= 0.75
    assert 0 <= res.best_epoch < 8 and len(res.history) == 8
    model, meta = load_classifier(tmp_path)
    assert meta["classes"] == ["low", "high"] and meta["preset"] == "cpu" and not meta["multilabel"]
    assert meta["best_epoch"] == res.best_epoch
    # the checkpoint is a plain state dict
    state = torch.load(tmp_path / "classifier.pt", weights_only=True)
    assert set(state) == set(model.state_dict())
    json.loads((tmp_path / "classifier.json").read_text())


def test_selection_never_reads_the_test_split(tmp_path, monkeypatch):
    ds = _toy_dataset()
    loaded = []
    orig = AudioDataset.load_batch

    def spy(self, items=None, *a, **k):
        loaded.extend(self.records[i].split for i in (range(len(self)) if items is None else items))
        return orig(self, items, *a, **k)

    monkeypatch.setattr(AudioDataset, "load_batch", spy)
    train_classifier(ds, "cpu", _cfg(epochs=1))
    assert loaded and "test" not in loaded


def test_resume_continues_where_it_stopped(tmp_path):
    ds = _toy_dataset()
    full = train_classifier(ds, "cpu", _cfg(epochs=4), out_dir=tmp_path / "full")
    train_classifier(ds, "cpu", _cfg(epochs=2), out_dir=tmp_path / "part")
    resumed = train_classifier(ds, "cpu", _cfg(epochs=4), out_dir=tmp_path / "part", resume=True)
    assert [h["epoch"] for h in resumed.history] == [0, 1, 2, 3]
    np.testing.assert_allclose([h["train_loss"] for h in resumed.history], [h["train_loss"] for h in full.history],
                               rtol=1e-5)


def test_multilabel_training_thresholds_and_auprc():
    ds = _toy_dataset(multilabel=True, n=16)
    res = train_classifier(ds, "cpu", _cfg(epochs=4))
    assert res.metric_name == "macro_auprc" and len(res.thresholds) == 2
    assert all(0 < t < 1 for t in res.thresholds)


def test_evaluation_known_answers():
    # multi-class: 3 of 4 right
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [2.0, 0.0]])
    s = evaluate_classifier(logits, np.array([0, 1, 0, 1]), multilabel=False, classes=["a", "b"])
    assert s["accuracy"] == 0.75 and s["confusion_matrix"] == [[2, 0], [1, 1]]
    assert s["per_class_recall"] == {"a": 1.0, "b": 0.5}
    # multi-label: perfect ranking -> AUPRC 1; a class with no positive is excluded and listed
    labels = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    logits = torch.tensor([[3.0, -3, 0], [-3, 3, 0], [3, 3, 0], [-3, -3, 0]])
    s = evaluate_classifier(logits, labels, multilabel=True, classes=["a", "b", "c"], thresholds=[0.5] * 3)
    assert s["macro_auprc"] == 1.0 and s["micro_auprc"] == 1.0 and s["micro_f1"] == 1.0
    assert s["excluded_classes"] == ["c"] and s["evaluated_classes"] == ["a", "b"]


def test_choose_thresholds_known_answer():
    probs = np.array([[0.9, 0.2], [0.8, 0.7], [0.3, 0.6], [0.1, 0.1]])
    labels = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    th = choose_thresholds(probs, labels)
    assert 0.3 <= th[0] < 0.8 and 0.2 <= th[1] < 0.6  # p > t positive (item 6b; it was 0.3 < t <= 0.8 with >=)
    assert choose_thresholds(probs, np.zeros_like(labels)) == [0.5, 0.5]
    # decisions are strict (p > t, as the official code): a probability equal to a grid value is not positive
    assert choose_thresholds(np.array([[0.3], [0.2]]), np.array([[1], [0]]), grid=np.array([0.1, 0.2])) == [0.2]


def test_micro_f1_uses_strict_decisions():
    # sigmoid(0) = 0.5 exactly: with threshold 0.5 it is not a positive decision
    s = evaluate_classifier(torch.tensor([[0.0, 3.0], [3.0, 3.0]]), np.ones((2, 2), int), multilabel=True,
                            classes=["a", "b"], thresholds=[0.5, 0.5])
    assert s["micro_f1"] == 6 / 7  # 3 of 4 positives found, no false alarm (1.0 with >=)


def test_default_recipes_and_the_small_multilabel_network():
    mc, ml = default_train_config(False, "cpu"), default_train_config(True, "cpu")
    assert (mc.epochs, mc.mixup_alpha, mc.arch) == (40, 0.2, None)
    assert (ml.epochs, ml.mixup_alpha, ml.arch) == (80, 0.0, "cpu-small")
    assert default_train_config(True, "paper").arch is None and default_train_config(True).arch is None
    assert default_train_config(True, "cpu", arch=None).arch is None  # overrides win
    with pytest.raises(ParameterError, match="unknown arch"):
        TrainConfig(arch="huge")
    ds = _toy_dataset()
    small = train_classifier(ds, "cpu", _cfg(epochs=1, arch="cpu-small")).model
    full = train_classifier(ds, "cpu", _cfg(epochs=1)).model
    assert small.arch.channels == (16, 32, 64, 128) and full.arch.channels == (32, 64, 128, 256)
    assert 3.5 < count_parameters(full) / count_parameters(small) < 4.5
