"""training_budgets / budget_text: what each trained explainer cost, read from sidecars written here."""

import json
from types import SimpleNamespace

from l2i_core.pipeline.steps import explainer_dir, training_budgets
from l2i_core.report.results import budget_text


class _Data:
    def split(self, name):
        assert name == "train"
        return list(range(100))


def _side(folder, name, epochs, batch, best, seconds=None):
    folder.mkdir(parents=True, exist_ok=True)
    hist = [{"epoch": e, "seconds": 2.0} for e in range(epochs)]
    meta = {"history": hist, "global_batch_size": batch, "best_epoch": best, "selection_metric": "m"}
    if seconds is not None:
        meta["train_seconds"] = seconds
    (folder / name).write_text(json.dumps(meta))


def test_budgets_count_epochs_steps_best_epochs_and_seconds_per_seed(tmp_path):
    cfg = SimpleNamespace(artifacts_dir=str(tmp_path), seed=0)
    _side(explainer_dir(cfg, 0), "lmac.json", 40, 16, 37, seconds=300.0)
    _side(explainer_dir(cfg, 1), "lmac.json", 40, 16, 12, seconds=310.0)
    _side(explainer_dir(cfg, 0), "interpreter_attention.json", 35, 32, 21)
    b = training_budgets(cfg, _Data(), [0, 1, 2])
    assert set(b) == {"L-MAC", "L2I (attention)"}  # no max-pool sidecar, no seed 2: left out
    assert b["L-MAC"]["seeds"] == [0, 1] and b["L-MAC"]["steps"] == [40 * 7, 40 * 7]  # ceil(100 / 16) = 7
    assert b["L-MAC"]["best_epoch"] == [37, 12] and b["L-MAC"]["seconds"] == [300.0, 310.0]
    assert b["L2I (attention)"]["steps"] == [35 * 4] and b["L2I (attention)"]["seconds"] == [70.0]  # 35 × 2 s
    assert budget_text(b["L-MAC"]) == "40 epochs (best 37, 12), 280 optimiser steps, 305 s per seed, 2 seeds"
    assert budget_text({}) == "no trained explainer"
