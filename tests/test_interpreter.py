"""Ψ, Θ, the loss, the activation cache and interpreter training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from l2i_core import ParameterError
from l2i_core.models.checkpoints import load_interpreter
from l2i_core.models.classifier import AudioCNN
from l2i_core.models.interpreter import AttentionTheta, L2IInterpreter, MaxTheta, PsiDecoder
from l2i_core.train.cache import build_cache
from l2i_core.train.losses import LossWeights, fidelity_loss, l2i_loss, soft_cross_entropy, target_loss
from l2i_core.train.recipes import SELECTION_METRICS, InterpreterConfig, selection_score, train_interpreter


def _maps(B=2, chans=(64, 128, 256), sizes=((16, 54), (8, 27), (4, 13))):
    return [torch.randn(B, c, f, t) for c, (f, t) in zip(chans, sizes)]


@pytest.mark.parametrize("sizes,T", [(((16, 54), (8, 27), (4, 13)), 216), (((8, 26), (4, 13), (2, 6)), 431),
                                     (((5, 7), (3, 50), (1, 1)), 100)])
def test_psi_is_generic_over_tap_shapes_and_non_negative(sizes, T):
    psi = PsiDecoder([64, 128, 256], 20, T)
    H = psi(_maps(sizes=sizes))
    assert H.shape == (2, 20, T) and (H >= 0).all()


def test_theta_heads_known_pooling():
    H = torch.zeros(1, 3, 5)
    H[0, 1, 2] = 4.0
    mx = MaxTheta(3, 2)
    z = mx.pool(H)[0]
    assert z.tolist() == [[0.0, 4.0, 0.0]]
    logits, z2 = mx(H, return_z=True)
    torch.testing.assert_close(logits, z2 @ mx.fc.weight.T)
    assert mx.fc.bias is None
    att = AttentionTheta(3, 2, dropout=0.0).eval()
    z, a = att.pool(H)
    torch.testing.assert_close(a.sum(-1), torch.ones(1))
    # constant H over time: attention pooling returns that constant whatever the weights
    const = torch.ones(2, 3, 7) * torch.tensor([1.0, 2.0, 3.0])[None, :, None]
    torch.testing.assert_close(att.pool(const)[0], torch.tensor([[1.0, 2.0, 3.0]] * 2))
    assert att.fc.bias is None


def test_interpreter_forward_and_reconstruct():
    W = np.abs(np.random.default_rng(0).standard_normal((513, 10))).astype(np.float32)
    m = L2IInterpreter(W, [64, 128, 256], 5, 216, pooling="max")
    logits, H = m(_maps())
    assert logits.shape == (2, 5) and H.shape == (2, 10, 216)
    torch.testing.assert_close(m.reconstruct(H), torch.einsum("fk,bkt->bft", torch.from_numpy(W), H))
    assert "decoder.W" in m.state_dict() and not any(p is m.decoder.W for p in m.parameters())
    with pytest.raises(ParameterError, match="pooling"):
        L2IInterpreter(W, [64], 5, 216, pooling="mean")


def test_losses_known_values():
    f = torch.tensor([[2.0, 0.0, -1.0]])
    # soft-target CE is minimised (equals the entropy of softmax(f)) when Θ = f
    p = torch.softmax(f, -1)
    entropy = -(p * p.log()).sum()
    torch.testing.assert_close(fidelity_loss(f.clone(), f, multilabel=False), entropy)
    assert fidelity_loss(torch.zeros(1, 3), f, multilabel=False) > entropy
    torch.testing.assert_close(fidelity_loss(f.clone(), f, multilabel=True),
                               F.binary_cross_entropy_with_logits(f, torch.sigmoid(f)))
    # extreme logits: no NaN (log_softmax, not log of softmax)
    assert torch.isfinite(fidelity_loss(torch.tensor([[1e4, -1e4]]), torch.tensor([[-1e4, 1e4]]), multilabel=False))
    H = torch.ones(1, 2, 3)
    V = torch.zeros(1, 4, 3)
    WH = torch.ones(1, 4, 3) * 2
    w = LossWeights()
    total, parts = l2i_loss(f, f, H, WH, V, multilabel=False, weights=w, epoch=0)
    assert parts["reconstruction"] == 4.0 and parts["sparsity"] == 1.0
    torch.testing.assert_close(total, 0.5 * torch.tensor(parts["fidelity"]) + 5 * 4.0 + 0.4 * 1.0)
    total_late, _ = l2i_loss(f, f, H, WH, V, multilabel=False, weights=w, epoch=20)
    torch.testing.assert_close(total_late - total, 0.5 * torch.tensor(parts["fidelity"]))


def test_soft_cross_entropy_is_the_one_behind_both_losses():
    logits, target = torch.tensor([[1.0, -1.0, 0.5]]), torch.tensor([[0.2, 0.3, 0.5]])
    torch.testing.assert_close(soft_cross_entropy(logits, target), -(target * F.log_softmax(logits, -1)).sum())
    torch.testing.assert_close(target_loss(logits, target, multilabel=False), soft_cross_entropy(logits, target))
    f = torch.tensor([[2.0, 0.0, -1.0]])
    torch.testing.assert_close(fidelity_loss(logits, f, multilabel=False), soft_cross_entropy(logits, torch.softmax(f, -1)))


def test_selection_score_known_answers():
    f = torch.tensor([[3.0, 0.0], [0.0, 3.0], [3.0, 0.0], [0.0, 3.0]])
    theta = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    assert selection_score(theta, f, multilabel=False) == 0.75
    assert selection_score(f, f, multilabel=True) == 1.0
    # f's decisions are strict: sigmoid(0) = 0.5 is not above the threshold 0.5, so class 1 is never predicted
    f0 = torch.tensor([[3.0, 0.0], [-3.0, -3.0]])  # with >=, class 1 would count, with AP 0.5
    assert selection_score(torch.tensor([[1.0, 0.0], [0.0, 5.0]]), f0, multilabel=True) == 1.0
    assert np.isnan(selection_score(f0, torch.full((2, 2), -3.0), multilabel=True))
    assert SELECTION_METRICS == {False: "top-1 agreement with f", True: "macro average precision vs f's decisions"}


def _toy(n=12):
    from l2i_core.data import AudioDataset, Record

    rng = np.random.default_rng(0)
    t = np.arange(8000) / 8000
    recs = []
    for split, cnt in (("train", n), ("validation", n // 2)):
        for i in range(cnt):
            c = ("low", "high")[i % 2]
            y = np.sin(2 * np.pi * (300 if c == "low" else 2500) * t) + 0.05 * rng.standard_normal(8000)
            recs.append(Record(uid=f"{split}{i}", labels=(c,), split=split, waveform=y.astype(np.float32), sr=8000))
    return AudioDataset("toy", recs, ["low", "high"], duration=1.0)


def test_cache_matches_direct_computation_and_memmap(tmp_path):
    ds = _toy()
    f = AudioCNN(2, "cpu").eval()
    cache = build_cache(f, ds.split("train"), "cpu", progress=False, device="cpu")
    assert len(cache) == 12 and cache.tap_channels == [64, 128, 256] and cache.V.shape[1:] == (513, 44)
    from l2i_core.audio.frontend import FrontEnd

    x = torch.from_numpy(ds.split("train").load_batch([3], "cpu"))
    with torch.no_grad():
        logits, maps = f.forward_features(FrontEnd("cpu").logmel(x))
    torch.testing.assert_close(cache.logits[3:4], logits)
    torch.testing.assert_close(cache.maps[2][3:4], maps[2])
    mm = build_cache(f, ds.split("train"), "cpu", progress=False, device="cpu", memmap_dir=tmp_path / "mm")
    assert (tmp_path / "mm" / "V.npy").is_file()
    torch.testing.assert_close(mm.V, cache.V)
    with pytest.raises(ParameterError, match="memmap_dir"):
        build_cache(f, ds.split("train"), "cpu", progress=False, device="cpu", max_memory_gb=1e-6)


def test_train_interpreter_selects_on_validation_and_round_trips(tmp_path):
    ds = _toy()
    f = AudioCNN(2, "cpu").eval()
    tr = build_cache(f, ds.split("train"), "cpu", progress=False, device="cpu")
    va = build_cache(f, ds.split("validation"), "cpu", progress=False, device="cpu")
    W = np.abs(np.random.default_rng(0).standard_normal((513, 8))).astype(np.float32)
    W /= np.linalg.norm(W, axis=0)
    cfg = InterpreterConfig(pooling="max", epochs=3, batch_size=4, progress=False, device="cpu")
    res = train_interpreter(tr, va, W, n_classes=2, multilabel=False, config=cfg, out_dir=tmp_path,
                            meta={"classes": ds.classes, "preset": "cpu"})
    scores = [h["val_selection_score"] for h in res.history]
    assert len(res.history) == 3 and res.best_epoch == int(np.argmax(scores))
    assert res.best_selection_score == max(scores) and res.selection_metric == "top-1 agreement with f"
    assert {"train_fidelity", "train_reconstruction", "train_sparsity", "val_relative_error"} <= set(res.history[0])
    back, meta = load_interpreter(tmp_path / "interpreter_max.pt")
    assert meta["pooling"] == "max" and meta["classes"] == ["low", "high"] and meta["preset"] == "cpu"
    assert meta["selection_metric"] == "top-1 agreement with f" and meta["best_selection_score"] == max(scores)
    assert meta["config"]["weights"]["reconstruction"] == 5.0
    np.testing.assert_array_equal(back.W.numpy(), W)
    maps, _, _ = va.batch([0, 1])
    torch.testing.assert_close(back(maps)[0], res.interpreter(maps)[0])
    # resume: two more epochs continue the history
    more = train_interpreter(tr, va, W, n_classes=2, multilabel=False, out_dir=tmp_path, resume=True,
                             config=InterpreterConfig(pooling="max", epochs=5, batch_size=4, progress=False, device="cpu"))
    assert [h["epoch"] for h in more.history] == [0, 1, 2, 3, 4]


def test_optional_nmf_target_term(tmp_path):
    from l2i_core.nmf.dictionary import Dictionary

    H = torch.ones(1, 2, 3)
    f = torch.zeros(1, 2)
    w = LossWeights(nmf_target=2.0)
    with pytest.raises(ParameterError, match="H_nmf"):
        l2i_loss(f, f, H, torch.zeros(1, 4, 3), torch.zeros(1, 4, 3), multilabel=False, weights=w)
    total, parts = l2i_loss(f, f, H, torch.zeros(1, 4, 3), torch.zeros(1, 4, 3), multilabel=False, weights=w,
                            H_nmf=torch.zeros(1, 2, 3))
    assert parts["nmf_target"] == 1.0
    base, _ = l2i_loss(f, f, H, torch.zeros(1, 4, 3), torch.zeros(1, 4, 3), multilabel=False)
    torch.testing.assert_close(total - base, torch.tensor(2.0))
    # the cache solves H_nmf per clip with W fixed: its reconstruction matches V as well as NMF allows
    ds = _toy()
    cache = build_cache(AudioCNN(2, "cpu").eval(), ds.split("validation"), "cpu", progress=False, device="cpu")
    W = np.abs(np.random.default_rng(1).standard_normal((513, 6))).astype(np.float32)
    W /= np.linalg.norm(W, axis=0)
    d = Dictionary(W, {"sparsity": 0.0})
    cache.add_nmf_activations(d, max_iter=50)
    assert cache.H_nmf.shape == (6, 6, 44) and (cache.H_nmf >= 0).all()
    # layout: clip 2's activations are the frames of clip 2 in the joint (all frames) solution
    joint = d.transform(np.concatenate(list(cache.V.numpy()), axis=1), max_iter=50)
    np.testing.assert_allclose(cache.H_nmf[2].numpy(), joint[:, 2 * 44 : 3 * 44], rtol=1e-5, atol=1e-6)
