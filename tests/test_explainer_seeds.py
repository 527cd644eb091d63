"""Trained explainers with several training seeds on the same f (issue 31 item 4): each seed has its own
files, is reused only for the classifier it was trained on, and a different seed gives a different model."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from l2i_core._errors import ParameterError
from l2i_core.pipeline.run import run_config
from l2i_core.pipeline.steps import ensure_interpreter, ensure_lmac, explainer_dir, explainer_seeds

pytestmark = [pytest.mark.realdata, pytest.mark.notebook]


@pytest.fixture()
def quick_artifacts(quick_pipeline, tmp_path):
    """A private copy of the quick esc10 run's artifacts (dictionary, classifier, seed-0 interpreters, L-MAC)."""
    src = quick_pipeline / "artifacts" / "esc10-cpu-quick"
    dst = tmp_path / "art"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("cache", "features", "seeds"))
    return dst


def test_explainer_dir_and_seeds():
    cfg = run_config(dataset="esc10", seed=4, artifacts_dir="/x/art")
    assert explainer_dir(cfg) == explainer_dir(cfg, 4) == cfg.artifacts_dir
    assert explainer_dir(cfg, 5) == cfg.artifacts_dir / "seeds" / "seed-5"
    assert explainer_seeds(cfg, 3) == [4, 5, 6] and explainer_seeds(cfg, 1) == [4]
    with pytest.raises(ParameterError, match="at least 1"):
        explainer_seeds(cfg, 0)


def test_a_second_seed_is_trained_beside_the_first_and_reused_only_for_its_classifier(quick_artifacts):
    cfg = run_config(dataset="esc10", quick=True, artifacts_dir=str(quick_artifacts))
    ds = cfg.load_dataset()
    first, msg0 = ensure_interpreter(cfg, ds, "attention", progress=False)
    assert msg0.startswith("reused the attention interpreter of notebook 03:")
    other, msg1 = ensure_interpreter(cfg, ds, "attention", seed=1, progress=False)
    where = quick_artifacts / "seeds" / "seed-1"
    assert msg1.startswith("trained a new attention interpreter of seed 1") and (where / "interpreter_attention.pt").is_file()
    side = json.loads((where / "interpreter_attention.json").read_text())
    assert side["seed"] == 1 and len(side["classifier_sha256"]) == 64
    # the same f, another Θ: the classifier's weights are one and the same, Θ's differ
    for a, b in zip(first.model.classifier.state_dict().values(), other.model.classifier.state_dict().values()):
        assert torch.equal(a, b)
    theta0, theta1 = (torch.cat([p.flatten() for p in e.interpreter.parameters()]) for e in (first, other))
    assert not torch.equal(theta0, theta1)
    again, msg2 = ensure_interpreter(cfg, ds, "attention", seed=1, progress=False)
    assert msg2.startswith("reused the attention interpreter of seed 1")
    # a retrained classifier invalidates the other seeds' interpreters (they read f's activations)
    with open(quick_artifacts / "classifier.pt", "ab") as fh:
        fh.write(b"\0")  # another file hash; torch still reads the zip archive
    _, msg3 = ensure_interpreter(cfg, ds, "attention", seed=1, progress=False)
    assert "trained for another classifier" in msg3


def test_lmac_seeds_live_apart(quick_artifacts):
    cfg = run_config(dataset="esc10", quick=True, artifacts_dir=str(quick_artifacts))
    ds = cfg.load_dataset()
    d0, _, msg0 = ensure_lmac(cfg, ds, progress=False)
    d2, meta2, msg2 = ensure_lmac(cfg, ds, progress=False, seed=2)
    assert msg2.startswith("trained L-MAC of seed 2") and (explainer_dir(cfg, 2) / "lmac.pt").is_file()
    assert meta2["seed"] == 2
    p0 = np.concatenate([p.detach().flatten().numpy() for p in d0.parameters()])
    p2 = np.concatenate([p.detach().flatten().numpy() for p in d2.parameters()])
    assert not np.array_equal(p0, p2)
    _, _, again = ensure_lmac(cfg, ds, progress=False, seed=2)
    assert again.startswith("reused L-MAC of seed 2")
