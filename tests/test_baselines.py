"""Listenable gradient baselines (l2i_core.explain.gradients), checked on models whose gradients are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from l2i_core import ParameterError
from l2i_core.audio.frontend import FrontEnd
from l2i_core.config import get_preset
from l2i_core.explain.gradients import (
    METHODS,
    gradient_attribution,
    gradient_interpretation,
    mel_to_linear,
    top_fraction_mask,
)
from l2i_core.explain.interface import Explanation
from l2i_core.models.classifier import AudioCNN

SR = get_preset("cpu").sr
N_MELS = get_preset("cpu").n_mels
BANDS = slice(10, 20)  # class 1 looks at mel bands 10-19 only
OTHER = slice(40, 50)  # class 0 looks at mel bands 40-49 only


class BandLinear(nn.Module):
    """Known by construction: logit_1 = mean_t Σ_{m=10..19} w_m L[m, t]; logit_0 the same on bands 40-49.

    Takes log-mel ``(B, n_mels, T)`` or ``(B, 1, n_mels, T)`` like AudioCNN. With ``square=True`` it
    uses ``L**2 / 100`` instead of ``L`` (a nonlinear model, for SmoothGrad).
    """

    def __init__(self, square: bool = False):
        super().__init__()
        w = torch.zeros(2, N_MELS)
        w[1, BANDS] = torch.linspace(0.5, 1.5, 10)
        w[0, OTHER] = torch.linspace(-1.0, 1.0, 10)
        self.weight = nn.Parameter(w)
        self.square = square

    def forward(self, x):
        if x.ndim == 4:
            x = x.squeeze(1)
        assert x.ndim == 3 and x.shape[1] == N_MELS
        z = x.pow(2) / 100 if self.square else x
        return torch.einsum("cm,bmt->bc", self.weight, z) / x.shape[-1]


@pytest.fixture(scope="module")
def waves():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, SR // 2)).astype(np.float32) * 0.1
    x[1] *= np.hanning(x.shape[1]).astype(np.float32)  # a different dynamic range in clip 1
    return x


@pytest.fixture(scope="module")
def logmel(waves):
    return FrontEnd("cpu").logmel(torch.from_numpy(waves)).numpy()


def test_saliency_is_the_weight_on_the_bands_the_class_reads(waves, logmel):
    model = BandLinear()
    a = gradient_attribution(model, waves, 1, method="saliency")
    T = logmel.shape[-1]
    assert a.shape == logmel.shape and a.dtype == np.float32 and (a >= 0).all()
    expected = np.zeros_like(a)
    expected[:, BANDS] = model.weight[1, BANDS].detach().numpy()[None, :, None] / T
    np.testing.assert_allclose(a, expected, rtol=1e-6, atol=0)
    # per-clip targets pick per-clip bands; negative weights come out as their magnitude
    a01 = gradient_attribution(model, waves, [0, 1], method="saliency")
    assert np.all(a01[0, OTHER] > 0) and np.all(a01[0, :40] == 0) and np.all(a01[0, 50:] == 0)
    np.testing.assert_allclose(a01[1], a[1])
    # no parameter gradient kept, requires_grad and train mode restored
    assert model.weight.grad is None and model.weight.requires_grad and model.training


def test_mask_lies_in_the_stft_bins_of_those_bands(waves, logmel):
    a = gradient_attribution(BandLinear(), waves, 1, method="saliency")
    lin = mel_to_linear(a, "cpu")
    F, T = get_preset("cpu").n_freq, logmel.shape[-1]
    assert lin.shape == (2, F, T)
    basis = FrontEnd("cpu").mel_basis.numpy()
    support = basis[BANDS].sum(axis=0) > 0  # STFT bins covered by bands 10-19
    assert np.all(lin[:, ~support] == 0) and np.all(lin[:, support] > 0)
    frac = 0.5 * support.sum() / F
    mask = top_fraction_mask(lin, frac)
    assert mask.sum(axis=(1, 2)).tolist() == [round(frac * F * T)] * 2
    assert not mask[:, ~support].any()


def test_integrated_gradients_of_a_linear_model_is_input_minus_baseline_times_weight(waves, logmel):
    model = BandLinear()
    a = gradient_attribution(model, waves, 1, method="integrated_gradients", n_steps=8)
    L = torch.from_numpy(logmel)
    L0 = L.amin(dim=(-2, -1), keepdim=True).expand_as(L)
    T = L.shape[-1]
    w = np.zeros(N_MELS, dtype=np.float32)
    w[BANDS] = model.weight[1, BANDS].detach().numpy()
    expected = (logmel - L0.numpy()) * w[None, :, None] / T  # >= 0 here, so equal to its abs
    np.testing.assert_allclose(a, expected, rtol=1e-4, atol=1e-6)
    with torch.no_grad():
        gap = (model(L)[:, 1] - model(L0)[:, 1]).numpy()
    np.testing.assert_allclose(a.sum(axis=(1, 2)), gap, rtol=1e-4)  # completeness


@pytest.mark.parametrize("method", METHODS)
def test_batch_size_changes_no_attribution(method):
    """Rows through f a few at a time (the default) give every clip the gradient of one whole pass:
    captum's IG steps and SmoothGrad noise are drawn as before, and an eval-mode CNN's rows are independent."""
    torch.manual_seed(0)
    net = AudioCNN(3, "cpu").eval()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, SR // 2)).astype(np.float32) * 0.1
    kw = {"integrated_gradients": {"n_steps": 4}, "smoothgrad": {"nt_samples": 3, "seed": 3}}.get(method, {})
    whole = gradient_attribution(net, x, [0, 1, 2, 1, 0], method=method, batch_size=None, **kw)
    for b in (1, 2, 4):
        chunked = gradient_attribution(net, x, [0, 1, 2, 1, 0], method=method, batch_size=b, **kw)
        np.testing.assert_allclose(chunked, whole, rtol=1e-4, atol=1e-5 * float(np.abs(whole).max()))
    with pytest.raises(ParameterError, match="batch_size"):
        gradient_attribution(net, x, 0, method=method, batch_size=0, **kw)


def test_smoothgrad_is_seeded_and_leaves_the_global_rng_alone(waves):
    model = BandLinear(square=True)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = gradient_attribution(model, waves, 1, method="smoothgrad", nt_samples=4, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    b = gradient_attribution(model, waves, 1, method="smoothgrad", nt_samples=4, seed=7)
    c = gradient_attribution(model, waves, 1, method="smoothgrad", nt_samples=4, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert (a >= 0).all() and np.all(a[:, :10] == 0) and np.all(a[:, 20:] == 0)
    assert torch.equal(torch.get_rng_state(), state)


def test_smoothgrad_of_a_clip_does_not_depend_on_its_batch():
    """Each clip's noise scale and noise are its own: alone, first or last in a batch, the same map."""
    torch.manual_seed(0)
    net = AudioCNN(3, "cpu").eval()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, SR // 2)).astype(np.float32) * np.array([0.01, 0.1, 0.3, 1.0], np.float32)[:, None]
    whole = gradient_attribution(net, x, 1, method="smoothgrad", nt_samples=3, seed=5)
    for i in range(4):
        alone = gradient_attribution(net, x[i : i + 1], 1, method="smoothgrad", nt_samples=3, seed=5)
        np.testing.assert_allclose(alone[0], whole[i], rtol=1e-4, atol=1e-5 * float(np.abs(whole[i]).max()))
    flipped = gradient_attribution(net, x[::-1].copy(), 1, method="smoothgrad", nt_samples=3, seed=5)
    np.testing.assert_allclose(flipped[::-1], whole, rtol=1e-4, atol=1e-5 * float(np.abs(whole).max()))


def test_smoothgrad_of_a_linear_f_is_its_saliency(waves):
    """f linear in L: every noisy copy has the same gradient, so SmoothGrad = Saliency exactly."""
    model = BandLinear(square=False)
    sal = gradient_attribution(model, waves, 1, method="saliency")
    sg = gradient_attribution(model, waves, 1, method="smoothgrad", nt_samples=5, seed=1)
    np.testing.assert_allclose(sg, sal, rtol=1e-5, atol=1e-7)


def test_top_fraction_mask_counts_and_ties():
    rng = np.random.default_rng(1)
    score = rng.random((3, 7, 11))
    for frac in (0.05, 0.3, 1.0):
        m = top_fraction_mask(score, frac)
        assert m.dtype == np.float32 and set(np.unique(m)) <= {0.0, 1.0}
        assert m.sum(axis=(1, 2)).tolist() == [round(frac * 77)] * 3
        # kept bins are the largest ones
        for i in range(3):
            assert score[i][m[i] == 1].min() >= score[i][m[i] == 0].max(initial=-np.inf)
    per_clip = top_fraction_mask(score, [0.1, 0.5, 0.9])
    assert per_clip.sum(axis=(1, 2)).tolist() == [round(f * 77) for f in (0.1, 0.5, 0.9)]
    flat = top_fraction_mask(np.zeros((1, 4, 5)), 0.25)  # all tied: first bins in C order
    np.testing.assert_array_equal(flat.reshape(-1), np.r_[np.ones(5), np.zeros(15)])
    np.testing.assert_array_equal(top_fraction_mask(torch.zeros(1, 4, 5), 0.25), flat)
    for bad in (0.0, -0.1, 1.5, np.nan):
        with pytest.raises(ParameterError, match="keep_fraction"):
            top_fraction_mask(score, bad)
    with pytest.raises(ParameterError, match="3 clips"):
        top_fraction_mask(score, [0.1, 0.2])
    with pytest.raises(ParameterError, match="shape"):
        top_fraction_mask(np.zeros(5), 0.1)


def test_mel_to_linear_of_ones_is_one_on_covered_bins():
    for preset in ("cpu", "paper"):
        p = get_preset(preset)
        lin = mel_to_linear(np.ones((2, p.n_mels, 3)), preset)
        assert lin.shape == (2, p.n_freq, 3)
        covered = FrontEnd(preset).mel_basis.numpy().sum(axis=0) > 0
        np.testing.assert_allclose(lin[:, covered], 1.0, rtol=1e-6)
        assert np.all(lin[:, ~covered] == 0)
    with pytest.raises(ParameterError, match="n_mels|64"):
        mel_to_linear(np.ones((1, 128, 3)), "cpu")


def test_keep_everything_gives_back_the_input(waves):
    g = gradient_interpretation(BandLinear(), waves, 1, method="saliency", keep_fraction=1.0)
    assert isinstance(g, Explanation) and g.method == "saliency" and g.target.tolist() == [1, 1]
    assert np.all(g.mask == 1)
    V = FrontEnd("cpu").log_magnitude(torch.from_numpy(waves)).numpy()
    np.testing.assert_allclose(g.spectrogram, V, rtol=1e-6)
    assert g.audio.shape == waves.shape
    rel = np.linalg.norm(g.audio - waves, axis=1) / np.linalg.norm(waves, axis=1)
    assert rel.max() < 1e-3, rel


def test_gradient_interpretation_masks_the_spectrogram(waves):
    g = gradient_interpretation(BandLinear(), waves, 1, method="integrated_gradients",
                                keep_fraction=[0.05, 0.1], n_steps=4)
    F, T = g.mask.shape[1:]
    assert g.mask.sum(axis=(1, 2)).tolist() == [round(0.05 * F * T), round(0.1 * F * T)]
    V = FrontEnd("cpu").log_magnitude(torch.from_numpy(waves)).numpy()
    np.testing.assert_allclose(g.spectrogram, g.mask * V, rtol=1e-6)
    assert np.linalg.norm(g.audio[0]) < np.linalg.norm(waves[0])
    np.testing.assert_allclose(g.magnitude, np.expm1(g.spectrogram))


@pytest.mark.parametrize("method", METHODS)
def test_shapes_with_a_real_audio_cnn(method):
    torch.manual_seed(0)
    net = AudioCNN(10, "cpu")
    x = torch.randn(1, SR) * 0.1
    g = gradient_interpretation(net, x, 3, method=method, keep_fraction=0.2, n_steps=4, nt_samples=2)
    p = get_preset("cpu")
    T = 1 + SR // p.hop_length
    attribution = g.extras["attribution"]
    assert attribution.shape == (1, p.n_mels, T) and (attribution >= 0).all()
    assert g.mask.shape == g.spectrogram.shape == (1, p.n_freq, T)
    assert g.audio.shape == (1, SR) and np.isfinite(g.audio).all()
    assert all(q.grad is None for q in net.parameters())


def test_bad_arguments_raise_parameter_error(waves):
    model = BandLinear()
    with pytest.raises(ParameterError, match="unknown gradient method"):
        gradient_attribution(model, waves, 1, method="gradcam")
    with pytest.raises(ParameterError, match="unknown gradient method"):
        gradient_interpretation(model, waves, 1, method="lime")
    with pytest.raises(ParameterError, match="class index"):
        gradient_attribution(model, waves, 2)
    with pytest.raises(ParameterError, match="targets for 2 clips"):
        gradient_attribution(model, waves, [0, 1, 1])
    with pytest.raises(ParameterError, match="waveforms"):
        gradient_attribution(model, np.zeros((1, 2, 100)), 1)
    with pytest.raises(ParameterError, match="keep_fraction"):
        gradient_interpretation(model, waves, 1, keep_fraction=0)


def test_ranks_give_exactly_the_top_fraction_masks():
    """One sort per clip (bin_ranks) serves every share: the masks equal top_fraction_mask's, ties included."""
    from l2i_core.evaluate.harness import _top
    from l2i_core.explain.gradients import bin_ranks

    rng = np.random.default_rng(0)
    score = rng.integers(0, 5, size=(3, 7, 11)).astype(np.float32)  # many ties
    ranks = bin_ranks(score)
    assert sorted(ranks[0].ravel().tolist()) == list(range(77))
    for q in (1e-9, 0.05, 0.1, 0.2, 0.5, 1.0):
        np.testing.assert_array_equal(_top(ranks, q).numpy(), top_fraction_mask(score, q))
