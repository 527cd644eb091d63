"""The one training loop: resume, EMA, best-on-validation, seeding, autocast."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_classifier import _cfg, _toy_dataset
from test_interpreter import _toy
from torch import nn

from l2i_core import ParameterError
from l2i_core.models.checkpoints import load_training_state
from l2i_core.train import engine
from l2i_core.train.engine import EMA, Engine, autocast_context, seeded_generator


def _regression(seed=0):
    g = seeded_generator(seed)
    x = torch.randn(32, 3, generator=torch.Generator().manual_seed(1))
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    model = nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)

    def step(idx, epoch):
        return ((model(x[idx]).squeeze(1) - y[idx]) ** 2).mean(), {"epoch_seen": float(epoch)}

    return model, opt, g, step


def _engine(model, opt, g, **kw):
    return Engine(model, opt, g, **{"epochs": 4, "batch_size": 8, "device": "cpu", "progress": False, **kw})


def test_best_on_validation_selects_the_best_epoch_and_loads_it():
    model, opt, g, step = _regression()
    scores = iter([0.1, 0.7, 0.3, 0.5])
    states = []

    def validate(m):
        states.append({k: v.clone() for k, v in m.state_dict().items()})
        s = next(scores)
        return s, {"val_score": s}

    res = _engine(model, opt, g).fit(32, step, validate)
    assert res.best_epoch == 1 and res.best_score == 0.7
    assert [h["val_score"] for h in res.history] == [0.1, 0.7, 0.3, 0.5]
    assert [h["train_epoch_seen"] for h in res.history] == [0.0, 1.0, 2.0, 3.0]
    assert {"epoch", "train_loss", "seconds"} <= set(res.history[0])
    torch.testing.assert_close(model.weight, states[1]["weight"])  # the best epoch's weights, not the last
    assert not model.training


def test_nan_scores_never_select_and_fail_clearly():
    model, opt, g, step = _regression()
    with pytest.raises(ParameterError, match="no epoch"):
        _engine(model, opt, g, epochs=1).fit(32, step, lambda m: (float("nan"), {}))


def test_batches_are_a_seeded_permutation_without_single_item_batches():
    e = _engine(nn.Linear(1, 1), torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1), seeded_generator(0))
    batches = list(e.batches(17))
    assert [len(b) for b in batches] == [8, 8]  # the 17th item alone would break batch norm
    again = list(_engine(nn.Linear(1, 1), torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1),
                         seeded_generator(0)).batches(17))
    assert all(torch.equal(a, b) for a, b in zip(batches, again))


def test_engine_resume_equals_an_uninterrupted_run(tmp_path):
    def run(epochs, resume, path):
        model, opt, g, step = _regression()
        sched = torch.optim.lr_scheduler.StepLR(opt, 3, gamma=0.5)
        e = _engine(model, opt, g, epochs=epochs, scheduler=sched, ema_decay=0.9, last_path=path, resume=resume)
        res = e.fit(32, step, lambda m: (-float(m.weight.sum()), {}))
        return model, res

    full, res_full = run(4, False, tmp_path / "full_last.pt")
    run(2, False, tmp_path / "part_last.pt")
    resumed, res_resumed = run(4, True, tmp_path / "part_last.pt")
    assert torch.equal(full.weight, resumed.weight) and res_full.best_epoch == res_resumed.best_epoch
    assert [h["train_loss"] for h in res_full.history] == [h["train_loss"] for h in res_resumed.history]
    state = load_training_state(tmp_path / "part_last.pt")  # weights_only=True
    assert state["epoch"] == 3 and {"ema", "scheduler", "generator", "best_state"} <= set(state)


def test_classifier_resume_gives_the_uninterrupted_weights(tmp_path):
    from l2i_core.train.recipes import train_classifier

    ds = _toy_dataset()
    full = train_classifier(ds, "cpu", _cfg(epochs=3), out_dir=tmp_path / "full")
    train_classifier(ds, "cpu", _cfg(epochs=1), out_dir=tmp_path / "part")  # stops inside the 2-epoch warm-up
    resumed = train_classifier(ds, "cpu", _cfg(epochs=3), out_dir=tmp_path / "part", resume=True)
    assert full.best_epoch == resumed.best_epoch
    for (k, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k


def test_interpreter_resume_gives_the_uninterrupted_weights(tmp_path):
    from l2i_core.models.classifier import AudioCNN
    from l2i_core.train.cache import build_cache
    from l2i_core.train.recipes import InterpreterConfig, train_interpreter

    ds = _toy()
    torch.manual_seed(0)
    f = AudioCNN(2, "cpu").eval()
    tr, va = (build_cache(f, ds.split(s), "cpu", progress=False, device="cpu") for s in ("train", "validation"))
    W = np.abs(np.random.default_rng(0).standard_normal((513, 8))).astype(np.float32)

    def run(epochs, out, resume=False):
        cfg = InterpreterConfig(pooling="attention", epochs=epochs, batch_size=4, progress=False, device="cpu")
        return train_interpreter(tr, va, W, n_classes=2, multilabel=False, config=cfg, out_dir=out, resume=resume)

    full = run(3, tmp_path / "full")
    run(1, tmp_path / "part")
    resumed = run(3, tmp_path / "part", resume=True)
    assert full.best_epoch == resumed.best_epoch and len(resumed.history) == 3
    for (k, a), b in zip(full.interpreter.state_dict().items(), resumed.interpreter.state_dict().values()):
        assert torch.equal(a, b), k


def test_ema_warm_up_and_state_round_trip():
    m = nn.Linear(2, 1, bias=False)
    nn.init.zeros_(m.weight)
    ema = EMA(m, 0.99)
    m.weight.data.fill_(1.0)
    ema.update_parameters(m)  # decay min(0.99, 1/10) = 0.1
    torch.testing.assert_close(ema.module.weight, torch.full((1, 2), 0.9))
    other = EMA(m, 0.99)
    other.load_state_dict(ema.state_dict())
    assert other.n_updates == 1 and torch.equal(other.module.weight, ema.module.weight)


def test_autocast_context_only_where_bf16_is_native(monkeypatch):
    lin = nn.Linear(4, 4)
    x = torch.randn(2, 4)
    with autocast_context("cpu", enabled=False):
        assert lin(x).dtype == torch.float32
    monkeypatch.setattr(engine, "native_bf16", lambda dev: False)
    with autocast_context("cpu"):
        assert lin(x).dtype == torch.float32  # emulated bf16 would be slower: stay in float32
    monkeypatch.setattr(engine, "native_bf16", lambda dev: True)
    with autocast_context("cpu"):
        assert lin(x).dtype == torch.bfloat16
    assert lin(x).dtype == torch.float32  # only inside the context


def test_the_avx2_cap_takes_effect_in_a_fresh_process():
    """``AVX2_NO_BF16_ENV`` makes ATen report AVX2 (or less, on a smaller CPU) and turns bf16 autocast off."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from l2i_core.train.engine import AVX2_NO_BF16_ENV

    code = ("import json, torch; from l2i_core.train.engine import native_bf16; "
            "print(json.dumps([torch.backends.cpu.get_cpu_capability(), native_bf16('cpu')]))")
    root = str(Path(__file__).resolve().parents[1])
    r = subprocess.run([sys.executable, "-c", code], env={**os.environ, **AVX2_NO_BF16_ENV, "PYTHONPATH": root},
                       capture_output=True, text=True, check=True)
    capability, bf16 = json.loads(r.stdout.strip().splitlines()[-1])
    assert capability in ("AVX2", "DEFAULT") and bf16 is False
