"""The ``efficientat`` preset: V, W, Ψ and f on f's own STFT grid (32 kHz, 513 bins × 501 frames for 5 s).

What is known by construction, and what is measured (and stated here with its tolerance):

* ``M = 1`` gives f(x) *exactly*: f's front end and the masked-magnitude path are one code path
  (``mel_kaldi @ (|G|·M·|X|)²``), so the logits agree bit for bit.
* A mask on V reaches f as the same mask on f's own STFT magnitude, with no iSTFT → STFT round trip.
  Against f on the *audio* of the masked magnitude (input phase, iSTFT, f's front end again), which
  differs only because a masked STFT is not the STFT of any signal, measured on 20 ESC-10 clips with
  the AudioSet tagger: smooth masks, max |Δ probability| 0.015 (asserted < 0.05); a mask keeping the
  lower half of the bins, 0.024, or the first half of the frames, 0.043 (asserted < 0.1). A random
  checkerboard of hard 32 × 16-bin blocks is the worst case: mean |Δ| 0.0009 but max 0.56 (asserted:
  mean < 0.005); its audio is not what the mask describes, which is why l2i scores masks on the grid.
* Pre-emphasis as a per-bin gain, beside the publisher's time-domain pre-emphasis, on the same 20
  clips: mean |Δ log-mel| 0.005 on features spanning about −1.4 to 2.5 (asserted < 0.02); AudioSet
  probabilities max |Δ| 0.034 (asserted < 0.06); each front end's top class is in the other's top 3 on
  every clip, the top-3 sets are identical on 17 of 20 (asserted >= 15). Larger feature differences sit
  in the first and last frames and in near-silent cells. l2i fine-tunes f on its own front end, so f
  and its explanations see one input.
* Gradients reach the mask.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from l2i_core.audio.frontend import FrontEnd, kaldi_mel_filterbank, preemphasis_gain
from l2i_core.config import get_preset

SR = 32_000


def test_preset_grid_is_fs_own():
    p = get_preset("efficientat")
    assert (p.sr, p.n_fft, p.window_length, p.hop_length, p.n_mels) == (32_000, 1024, 800, 320, 128)
    assert p.shared_stft and p.n_freq == 513 and p.n_frames(5.0) == 501
    fe = FrontEnd(p)
    x = torch.randn(2, 5 * SR, generator=torch.Generator().manual_seed(0))
    assert fe.log_magnitude(x).shape == (2, 513, 501)
    assert fe.logmel(x).shape == (2, 128, 501)
    np.testing.assert_array_equal(fe.mel_basis.numpy(), kaldi_mel_filterbank(128, 1024, SR, 0.0, 15_000.0)[0])
    # the window is a symmetric Hann of 800 samples
    np.testing.assert_allclose(fe.window.numpy(), np.hanning(800), atol=1e-6)


def test_preemphasis_gain_is_the_filters_response():
    g = preemphasis_gain(0.97, 1024)
    assert g.shape == (513,)
    np.testing.assert_allclose(g[0], 0.03, rtol=1e-9)  # DC: 1 − 0.97
    np.testing.assert_allclose(g[-1], 1.97, rtol=1e-9)  # Nyquist: 1 + 0.97
    # a pure tone on a bin centre, pre-emphasised in time, has its STFT magnitude scaled by the gain
    fe, k = FrontEnd("efficientat"), 100
    t = np.arange(2 * SR) / SR
    x = np.sin(2 * np.pi * k * SR / 1024 * t).astype(np.float32)
    xp = np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]])
    ratio = fe.stft(torch.from_numpy(xp)).abs()[k, 10:-10] / fe.stft(torch.from_numpy(x)).abs()[k, 10:-10]
    np.testing.assert_allclose(ratio.numpy(), g[k], rtol=1e-3)


def test_identity_mask_gives_f_of_x_exactly_and_gradients_reach_the_mask():
    from l2i_core.models.efficientat import EfficientATMN

    torch.manual_seed(0)
    net = EfficientATMN().eval()
    fe = FrontEnd("efficientat")
    x = torch.randn(2, 5 * SR, generator=torch.Generator().manual_seed(1)) * 0.1
    mag = fe.stft(x).abs()
    with torch.no_grad():
        assert torch.equal(net(fe.logmel(x)), net(fe.features_from_magnitude(mag)))
    M = torch.full_like(mag, 0.5, requires_grad=True)
    net(fe.features_from_magnitude(M * mag)).sum().backward()
    assert M.grad is not None and torch.isfinite(M.grad).all() and (M.grad != 0).float().mean() > 0.5


@pytest.fixture(scope="module")
def clips(esc10_root):
    from l2i_core.audio.waveform import load_audio
    from l2i_core.data import load_dataset

    recs = list(load_dataset("esc10", data_dir=esc10_root))[::20][:20]
    return torch.from_numpy(np.stack([load_audio(r.path, sr=SR, duration=5.0) for r in recs]))


@pytest.fixture(scope="module")
def tagger():
    import os
    from pathlib import Path

    from l2i_core.models.efficientat import EFFICIENTAT_FILE, load_efficientat

    env = os.environ.get("L2I_MODELS")
    if not env or not (Path(env) / "efficientat" / EFFICIENTAT_FILE).is_file():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true and L2I_MODELS does not hold efficientat/" + EFFICIENTAT_FILE)
        pytest.skip("set L2I_MODELS to the folder holding efficientat/" + EFFICIENTAT_FILE)
    return load_efficientat(Path(env) / "efficientat" / EFFICIENTAT_FILE, labels=False)


@pytest.mark.realdata
def test_masked_magnitude_matches_the_audio_of_that_magnitude(clips, tagger):
    fe = FrontEnd("efficientat")
    X = fe.stft(clips)
    mag, phase = X.abs(), torch.angle(X)
    g = torch.Generator().manual_seed(0)
    n = len(clips)

    def up(r, mode):
        return torch.nn.functional.interpolate(r, size=mag.shape[-2:], mode=mode)[:, 0]

    masks = {
        "smooth": (up(torch.rand(n, 1, 16, 32, generator=g), "bilinear"), 0.05),
        "low half of the bins": ((torch.arange(513)[:, None] < 256).float().expand_as(mag), 0.1),
        "first half of the frames": ((torch.arange(501)[None, :] < 250).float().expand_as(mag), 0.1),
        "checkerboard": ((up(torch.rand(n, 1, 16, 32, generator=g), "nearest") > 0.5).float(), None),
    }
    for name, (M, tol) in masks.items():
        with torch.no_grad():
            on_grid = torch.sigmoid(tagger(fe.features_from_magnitude(M * mag)))
            audio = fe.istft(torch.polar(M * mag, phase), length=clips.shape[-1])
            through_audio = torch.sigmoid(tagger(fe.logmel(audio)))
        d = (on_grid - through_audio).abs()
        if tol is None:
            assert d.mean() < 0.005, f"{name}: mean |Δp| {d.mean():.4f}"
        else:
            assert d.max() < tol, f"{name}: max |Δp| {d.max():.4f} >= {tol}"


@pytest.mark.realdata
def test_per_bin_preemphasis_is_close_to_the_publishers(clips, tagger):
    from l2i_core.models.efficientat import EfficientATFrontEnd

    ours, theirs = FrontEnd("efficientat").logmel(clips), EfficientATFrontEnd()(clips)
    assert (ours - theirs).abs().mean() < 0.02
    with torch.no_grad():
        pa, pb = torch.sigmoid(tagger(ours)), torch.sigmoid(tagger(theirs))
    assert (pa - pb).abs().max() < 0.06
    a, b = pa.topk(3, dim=1).indices.tolist(), pb.topk(3, dim=1).indices.tolist()
    assert all(u[0] in v and v[0] in u for u, v in zip(a, b))
    assert sum(set(u) == set(v) for u, v in zip(a, b)) >= 15


def test_harness_scores_masks_on_the_grid_only_where_the_preset_says_so():
    from l2i_core.explain.interface import AudioModel
    from l2i_core.models.classifier import AudioCNN
    from l2i_core.models.efficientat import EfficientATClassifier

    eat = AudioModel(EfficientATClassifier(3, pretrained=False).eval(), "efficientat")
    cpu = AudioModel(AudioCNN(3, "cpu").eval(), "cpu")
    assert eat.on_grid and not cpu.on_grid
    with pytest.raises(Exception, match="shared_stft"):
        get_preset("aisfx").replace(masks_on_grid=True)
