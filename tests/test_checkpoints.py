"""Checkpoints of every model: plain state dicts read with ``weights_only=True``, a JSON sidecar beside."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from l2i_core import ParameterError
from l2i_core.models.checkpoints import (
    load_classifier,
    load_interpreter,
    load_training_state,
    save_classifier,
    save_interpreter,
    save_training_state,
)
from l2i_core.models.classifier import ARCHITECTURES, AudioCNN
from l2i_core.models.interpreter import L2IInterpreter


class NotATensor:
    """Something only pickle can store."""


def _classifier_meta(model):
    return {"classes": ["a", "b", "c"], "preset": "cpu", "multilabel": True, "arch": dataclasses.asdict(model.arch)}


def test_classifier_round_trip_with_weights_only(tmp_path):
    torch.manual_seed(0)
    model = AudioCNN(3, "cpu", multilabel=True, arch=ARCHITECTURES["cpu-small"]).eval()
    pt = save_classifier(model, tmp_path, meta={**_classifier_meta(model), "thresholds": [0.3, 0.5, 0.7]})
    assert pt == tmp_path / "classifier.pt"
    state = torch.load(pt, weights_only=True)  # a plain state dict
    assert set(state) == set(model.state_dict())
    for path in (tmp_path, pt):
        back, meta = load_classifier(path)
        assert not back.training and back.multilabel and back.arch == model.arch
        assert meta["thresholds"] == [0.3, 0.5, 0.7]
        x = torch.randn(2, 64, 50)
        torch.testing.assert_close(back(x), model(x))


def test_interpreter_round_trip_with_weights_only(tmp_path):
    torch.manual_seed(0)
    W = np.abs(np.random.default_rng(0).standard_normal((513, 6))).astype(np.float32)
    model = L2IInterpreter(W, [8, 16], 3, 20, pooling="attention", dropout=0.2).eval()
    pt = save_interpreter(model, tmp_path, meta={"classes": ["a", "b", "c"], "best_selection_score": 0.5})
    assert pt.name == "interpreter_attention.pt"
    assert set(torch.load(pt, weights_only=True)) == set(model.state_dict())
    meta = json.loads(pt.with_suffix(".json").read_text())
    assert meta["pooling"] == "attention" and meta["n_components"] == 6 and meta["dropout"] == 0.2
    back, meta = load_interpreter(tmp_path / "interpreter_attention")
    assert not back.training and meta["best_selection_score"] == 0.5
    maps = [torch.randn(2, 8, 4, 10), torch.randn(2, 16, 2, 5)]
    torch.testing.assert_close(back(maps)[0], model(maps)[0])


def test_missing_checkpoints_and_incomplete_sidecars_are_clear_errors(tmp_path):
    with pytest.raises(ParameterError, match="notebook 02"):
        load_classifier(tmp_path)
    with pytest.raises(ParameterError, match="notebook 03"):
        load_interpreter(tmp_path / "interpreter_max.pt")
    with pytest.raises(ParameterError, match="arch"):
        save_classifier(AudioCNN(2, "cpu"), tmp_path, meta={"classes": ["a", "b"], "preset": "cpu", "multilabel": False})


def test_training_state_is_read_with_weights_only(tmp_path):
    g = torch.Generator().manual_seed(3)
    state = {"model": {"w": torch.ones(2)}, "history": [{"epoch": 0, "val": 0.5}], "generator": g.get_state(),
             "epoch": 0, "best_score": float("-inf")}
    path = save_training_state(state, tmp_path / "sub" / "x_last.pt")
    back = load_training_state(path)
    assert back["history"] == state["history"] and torch.equal(back["generator"], g.get_state())
    torch.save({"x": NotATensor()}, tmp_path / "bad.pt")  # pickled code: refused
    with pytest.raises(Exception, match="(?i)weights.only|unsupported|global"):
        load_training_state(tmp_path / "bad.pt")


def test_a_resume_state_is_kept_only_for_its_own_request(tmp_path):
    """``claim_resume_state``: the state of the same request stays (the run resumes); another request's, or one
    with no request recorded, is removed before training."""
    from l2i_core.models.checkpoints import claim_resume_state

    state = tmp_path / "lmac_last.pt"
    state.write_bytes(b"orphan")  # no request recorded: not ours
    req = claim_resume_state(state, {"f": "a", "epochs": 40})
    assert not state.exists() and req.name == "lmac.request.json"
    state.write_bytes(b"ours")
    claim_resume_state(state, {"f": "a", "epochs": 40})
    assert state.read_bytes() == b"ours"  # the same request: resumed
    claim_resume_state(state, {"f": "b", "epochs": 40})
    assert not state.exists()  # another f: started afresh
