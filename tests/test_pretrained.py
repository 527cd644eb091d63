"""The aiSFX backbone: safe loading, its front end against aiSFX's own function, taps, fine-tuning."""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F

from l2i_core._errors import ParameterError
from l2i_core.audio.frontend import AISFX_LOG_MAX, FrontEnd
from l2i_core.audio.waveform import load_audio
from l2i_core.config import get_preset
from l2i_core.data import AudioDataset, Record
from l2i_core.models import pretrained
from l2i_core.models.checkpoints import load_classifier
from l2i_core.models.classifier import FeatureTap
from l2i_core.models.pretrained import AiSFXClassifier, load_aisfx_checkpoint
from l2i_core.train.finetune import FinetuneConfig, finetune_pretrained, linear_probe


def _aisfx_librosa():
    """aiSFX's own librosa spectrogram function, loaded from its file without importing the package."""
    ckpt = pretrained.aisfx_checkpoint_path()
    spec = importlib.util.spec_from_file_location("_aisfx_spec", ckpt.parent.parent / "spectrogram" / "spectrogram_librosa.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.compute_spectrogram


def _noise_tone(sr=44100, seconds=5.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * np.sin(2 * np.pi * 440 * t) * (t > 1.0) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def _check_front_end(path):
    ref = _aisfx_librosa()(str(path), 44100.0, 2048, 1024, 96, 0.0, 22050.0)  # (96, T), before its /max scaling
    y = load_audio(path, sr=44100, duration=5.0)
    ours = FrontEnd("aisfx").logmel(torch.from_numpy(y)).numpy() * AISFX_LOG_MAX
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=1e-5)


def test_front_end_equals_aisfx_librosa_function_on_a_synthetic_file(tmp_path):
    path = tmp_path / "tone.wav"
    sf.write(path, _noise_tone(), 44100, subtype="FLOAT")
    _check_front_end(path)


def test_front_end_equals_aisfx_librosa_function_on_real_clips(esc50_fold4_root):
    for path in sorted((esc50_fold4_root / "audio").glob("*.flac"))[:3]:
        _check_front_end(path)


def test_checkpoint_loads_with_weights_only_and_its_table():
    state, table = load_aisfx_checkpoint()
    assert state["conv_block4.conv2.weight"].shape == (512, 512, 3, 3)
    assert len(table) == 9 and all(isinstance(v[1], int) for v in table.values())


def test_a_changed_checkpoint_is_refused(tmp_path):
    bad = tmp_path / "checkpoint.pth"
    shutil.copy(pretrained.aisfx_checkpoint_path(), bad)
    with open(bad, "r+b") as fh:
        fh.seek(1000)
        b = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(ParameterError, match="sha256"):
        load_aisfx_checkpoint(bad)


def test_missing_package_says_how_to_install(monkeypatch):
    def missing(name):
        raise pretrained.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(pretrained.metadata, "distribution", missing)
    with pytest.raises(ParameterError, match=r"pip install --no-deps aisfx==0\.1\.2"):
        pretrained.aisfx_checkpoint_path()


def _original_embedding(state: dict, x_tm: torch.Tensor) -> torch.Tensor:
    """aiSFX's EmbeddingNet forward in its own (time, mel) orientation, from the raw state dict."""
    h = x_tm.unsqueeze(1)
    for i in range(1, 5):
        for j in (1, 2):
            p = f"conv_block{i}."
            h = F.conv2d(h, state[p + f"conv{j}.weight"], padding=1)
            h = F.batch_norm(h, state[p + f"bn{j}.running_mean"], state[p + f"bn{j}.running_var"],
                             state[p + f"bn{j}.weight"], state[p + f"bn{j}.bias"], training=False)
            h = F.relu(h)
        h = F.max_pool2d(h, 2) if i < 4 else h
    return h.mean(dim=3).amax(dim=2)  # mean over mel, max over time


def test_transposed_kernels_compute_aisfx_embedding():
    state, _ = load_aisfx_checkpoint()
    model = AiSFXClassifier(4).eval()
    x = torch.rand(2, 96, 100)  # (mel, time), as l2i keeps it
    with torch.no_grad():
        ours = model.embedding(x)
        theirs = _original_embedding(state, x.transpose(1, 2))
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


def test_taps_and_freezing():
    model = AiSFXClassifier(5, trainable="last")
    x = torch.rand(2, 96, 216)
    logits, maps = FeatureTap(model, model.tap_layers)(x)
    assert logits.shape == (2, 5)
    assert [tuple(m.shape[1:]) for m in maps] == [(128, 24, 54), (256, 12, 27), (512, 12, 27)]
    trainable = {n.split(".")[1] for n, q in model.named_parameters() if q.requires_grad and n.startswith("blocks")}
    assert trainable == {"3"}
    model.train()
    assert not model.blocks[0].training and model.blocks[3].training and model.head.training
    with pytest.raises(ParameterError, match="aisfx"):
        AiSFXClassifier(3, "cpu")


def test_linear_probe_is_folded_into_a_layer_exactly():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, (60, 8))
    y = (X[:, 0] + 0.3 * rng.normal(size=60) > 3).astype(int) + (X[:, 1] > 4)
    layer, score, tried = linear_probe(torch.from_numpy(X).float(), torch.from_numpy(y), torch.from_numpy(X).float(),
                                       torch.from_numpy(y), n_classes=3, multilabel=False, Cs=(1.0,))
    Z = (X - X.mean(0)) / (X.std(0) + 1e-8)
    ref = LogisticRegression(C=1.0, max_iter=2000, random_state=0).fit(Z, y).decision_function(Z)
    with torch.no_grad():
        ours = layer(torch.from_numpy(X).float()).numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-3)
    assert score == pytest.approx(float((ref.argmax(1) == y).mean()))


def _toy_dataset(seconds=2.0):
    """Three classes of tones at 44.1 kHz, 6 train / 3 validation / 3 test clips each."""
    sr, rng, recs = 44100, np.random.default_rng(0), []
    t = np.arange(int(sr * seconds)) / sr
    for c, f in enumerate((300.0, 1200.0, 5000.0)):
        for i in range(12):
            split = "train" if i < 6 else "validation" if i < 9 else "test"
            y = 0.4 * np.sin(2 * np.pi * f * (1 + 0.02 * rng.normal()) * t) + 0.02 * rng.normal(size=t.size)
            recs.append(Record(uid=f"c{c}-{i}", labels=(f"c{c}",), split=split, waveform=y.astype(np.float32), sr=sr))
    return AudioDataset("tones", recs, ["c0", "c1", "c2"], duration=seconds)


@pytest.mark.slow
def test_finetune_selects_on_validation_and_round_trips(tmp_path):
    ds = _toy_dataset()
    cfg = FinetuneConfig(epochs_head=3, epochs_last=2, batch_size=6, progress=False)
    res = finetune_pretrained(ds, "aisfx", cfg, out_dir=tmp_path)
    names = [c["trainable"] for c in res.meta["candidates"]]
    assert names == ["probe", "head", "last"]
    best = max(res.meta["candidates"], key=lambda c: c["validation"])
    assert res.meta["trainable"] == best["trainable"] and res.best_metric == best["validation"]
    model, meta = load_classifier(tmp_path)
    assert isinstance(model, AiSFXClassifier) and meta["trainable"] == best["trainable"]
    x = FrontEnd(get_preset("aisfx")).logmel(torch.from_numpy(ds.load_batch([0, 1], "aisfx")))
    with torch.no_grad():
        torch.testing.assert_close(model(x), res.model(x))
    assert (tmp_path / "finetune_last_last.pt").is_file()


def test_cache_keeps_the_phase_where_f_has_its_own_stft():
    from l2i_core.train.cache import build_cache

    ds = _toy_dataset(seconds=1.0).split("test")
    model = AiSFXClassifier(3, pretrained=False).eval()
    cache = build_cache(model, ds, "aisfx", progress=False)
    p = get_preset("aisfx")
    assert cache.phase is not None and cache.phase.shape == cache.V.shape == (len(ds), p.n_freq, p.n_frames(1.0))
    assert cache.length == p.n_samples(1.0)
    assert [m.shape[1] for m in cache.maps] == [128, 256, 512]
    x = torch.from_numpy(ds.load_batch([0], p))
    V, ph = FrontEnd(p).magnitude_phase(x)
    torch.testing.assert_close(cache.phase_batch([0]), ph)


def test_mel_attribution_lands_on_v_grid_in_frequency_and_time():
    from l2i_core.explain.gradients import mel_to_linear

    p = get_preset("aisfx")
    T_f = 1 + p.n_samples(5.0) // p.f_hop_length
    lin = mel_to_linear(np.ones((2, 96, T_f), np.float32), p, n_frames=p.n_frames(5.0))
    assert lin.shape == (2, p.n_freq, p.n_frames(5.0))
    covered = lin[0, :, 0] > 0
    np.testing.assert_allclose(lin[:, covered], 1.0, atol=1e-5)  # a constant map stays constant
    ramp = np.broadcast_to(np.arange(T_f, dtype=np.float32), (1, 96, T_f))
    out = mel_to_linear(ramp, p, n_frames=p.n_frames(5.0))[0, covered][0]
    np.testing.assert_allclose(out[:10], np.arange(10) * p.hop_length / p.f_hop_length, atol=1e-5)  # frame centres
