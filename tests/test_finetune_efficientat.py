"""Fine-tuning EfficientAT mn04 (preset ``efficientat``): the three candidates, multi-class and multi-label.

Known by construction: the backbone's tensors are the release file's (every key, ``strict=True``); the
frozen blocks keep AudioSet's batch-norm statistics (eval mode inside ``train()``); the candidate kept
is the best on validation; a saved classifier reloads to the same function; the taps have the
channels and strides of blocks 6, 12 and 15.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from l2i_core.audio.frontend import FrontEnd
from l2i_core.config import get_preset
from l2i_core.models.checkpoints import load_classifier
from l2i_core.models.classifier import FeatureTap
from l2i_core.models.efficientat import EFFICIENTAT_FILE, EfficientATClassifier
from l2i_core.train.finetune import FinetuneConfig, finetune_pretrained


@pytest.fixture(scope="module", autouse=True)
def weights():
    env = os.environ.get("L2I_MODELS")
    if not env or not (Path(env) / "efficientat" / EFFICIENTAT_FILE).is_file():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true and L2I_MODELS does not hold efficientat/" + EFFICIENTAT_FILE)
        pytest.skip("set L2I_MODELS to the folder holding efficientat/" + EFFICIENTAT_FILE)


def test_backbone_is_the_release_files_and_frozen_blocks_stay_in_eval():
    state = torch.load(Path(os.environ["L2I_MODELS"]) / "efficientat" / EFFICIENTAT_FILE, weights_only=True)
    m = EfficientATClassifier(5, trainable="last")
    mine = m.blocks.state_dict()
    feats = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    assert mine.keys() == feats.keys() and all(torch.equal(mine[k], feats[k]) for k in feats)
    m.train()
    assert all(not b.training for b in m.blocks[:13]) and all(b.training for b in m.blocks[13:])
    assert not any(q.requires_grad for b in m.blocks[:13] for q in b.parameters())
    assert all(q.requires_grad for b in m.blocks[13:] for q in b.parameters())
    m.set_trainable("head")
    assert not any(q.requires_grad for q in m.blocks.parameters()) and all(q.requires_grad for q in m.head.parameters())


def test_taps_are_blocks_6_12_15():
    m = EfficientATClassifier(3, pretrained=False).eval()
    x = torch.randn(2, 128, 501)
    logits, maps = FeatureTap(m, m.tap_layers)(x)
    assert logits.shape == (2, 3)
    assert [tuple(h.shape[1:]) for h in maps] == [(16, 16, 63), (48, 8, 32), (64, 4, 16)]
    _, taps = m.forward_features(x)
    assert all(torch.equal(a, b) for a, b in zip(taps, maps))


def test_wrong_front_end_is_refused():
    from l2i_core._errors import ParameterError

    with pytest.raises(ParameterError, match="efficientat"):
        EfficientATClassifier(3, "cpu", pretrained=False)


@pytest.mark.realdata
@pytest.mark.slow
def test_multilabel_finetune_on_a_few_urbanmix_scenes(data_root, tmp_path):
    from l2i_core.data import load_dataset

    ds = load_dataset("urbanmix", data_dir=data_root / "urbanmix" if (data_root / "urbanmix").is_dir() else None,
                      n_scenes={"train": 16, "validation": 8, "test": 4}, seed=0)
    assert ds.multilabel
    cfg = FinetuneConfig(epochs_head=2, epochs_last=1, batch_size=8, progress=False, probe_C=(0.1, 1.0))
    res = finetune_pretrained(ds, "efficientat", cfg, out_dir=tmp_path)
    assert [c["trainable"] for c in res.meta["candidates"]] == ["probe", "head", "last"]
    best = max(res.meta["candidates"], key=lambda c: c["validation"])
    assert res.meta["trainable"] == best["trainable"] and res.metric_name == "macro_auprc"
    assert res.thresholds is not None and len(res.thresholds) == len(ds.classes)
    model, meta = load_classifier(tmp_path)
    assert isinstance(model, EfficientATClassifier) and model.multilabel and meta["trainable"] == best["trainable"]
    x = FrontEnd(get_preset("efficientat")).logmel(torch.from_numpy(ds.load_batch([0, 1], "efficientat")))
    with torch.no_grad():
        torch.testing.assert_close(model(x), res.model(x))
