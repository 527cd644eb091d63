"""Listenable gradient baselines: captum attributions turned into masks that can be heard.

An L2I interpretation of class c for clip x is a time-frequency mask M on the STFT grid applied to
``V = log1p|STFT(x)|`` (DESIGN §1 item 4): spectrogram ``M ⊙ V``, magnitude ``expm1(M ⊙ V)``,
audio ``iSTFT(expm1(M ⊙ V) · e^{i∠X})`` with the input's own phase. The baselines here produce the
same kind of object from a gradient attribution of the classifier, so that both can be scored by the
same metrics (faithfulness, mask-in AI/AD/AG, energy inside the true stem; DESIGN §1 items 5-6):

1. :func:`gradient_attribution` — captum ``Saliency``, ``IntegratedGradients`` or SmoothGrad
   (``Saliency`` averaged over noisy copies) of the target logit with respect to the classifier's log-mel input,
   ``(B, n_mels, n_frames)``, non-negative;
2. :func:`mel_to_linear` — that score projected from the mel grid to the STFT grid with the
   transposed mel filterbank;
3. :func:`top_fraction_mask` — a binary mask keeping the largest share of bins;
4. :func:`gradient_interpretation` — the three steps in one call, as an
   :class:`~l2i_core.explain.interface.Explanation` (binary mask at a chosen sparsity, its audio);
5. :class:`GradientMask` — a gradient method as an :class:`~l2i_core.explain.interface.Explainer`
   (soft mask: the projected attribution divided by its maximum per row).

Orientation, stated once: spectrograms are ``(..., n_freq, n_frames)``; waveforms are
``(..., n_samples)``.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch
from captum.attr import IntegratedGradients, Saliency
from torch import nn

from l2i_core._errors import ParameterError
from l2i_core._utils import INFERENCE_BATCH_SIZE, module_device
from l2i_core.audio.frontend import FrontEnd
from l2i_core.audio.masks import mask_to_audio
from l2i_core.audio.waveform import as_waveform_batch
from l2i_core.config import Preset, get_preset
from l2i_core.explain.interface import AudioModel, Explainer, Explanation, clip_targets

__all__ = [
    "METHODS",
    "GRADIENT_SETTINGS",
    "GradientMask",
    "gradient_attribution",
    "mel_to_linear",
    "top_fraction_mask",
    "bin_ranks",
    "top_fraction_mask_from_ranks",
    "gradient_interpretation",
]

#: The gradient methods available, as captum names them (SmoothGrad: captum ``Saliency`` averaged over noisy copies, each clip's noise its own).
METHODS = ("saliency", "integrated_gradients", "smoothgrad")

#: The gradient methods' budgets wherever l2i compares explainers (notebook 08, the sanity check, the ground
#: truth about f): Integrated Gradients with 8 Gauss-Legendre points, SmoothGrad with 6 noisy copies. With 16
#: and 8 they took 190 s and 120 s of notebook 08's 590 s of scoring on esc10 (80 clips × 4 conditions,
#: 2-core CPU), more than every other explainer together.
GRADIENT_SETTINGS = {"integrated_gradients": {"n_steps": 8}, "smoothgrad": {"nt_samples": 6}}

#: Rows per forward/backward pass in IntegratedGradients and SmoothGrad (at least the batch size).
_INTERNAL_BATCH = 64


# -- helpers -------------------------------------------------------------------------------------
def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ParameterError(f"unknown gradient method {method!r}; choose one of {list(METHODS)}")
    return method


class _Logits(nn.Module):
    """The classifier seen by captum: logits only (a tuple/dict output gives its first item).

    With ``batch_size``, a pass over more rows runs ``batch_size`` rows at a time and concatenates the
    logits, so autograd's backward also runs chunk by chunk. captum's own batching (IG steps,
    SmoothGrad noise) is untouched; in eval mode each row's logits and gradient are its own, so only
    the time changes.
    """

    def __init__(self, classifier: nn.Module, batch_size: int | None = None):
        super().__init__()
        self.classifier = classifier
        self.batch_size = None if batch_size is None else int(batch_size)

    def _one(self, z: torch.Tensor) -> torch.Tensor:
        out = self.classifier(z)
        if isinstance(out, dict):
            out = next(iter(out.values()))
        elif isinstance(out, (tuple, list)):
            out = out[0]
        return out

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b = self.batch_size
        if b is None or len(z) <= b:
            return self._one(z)
        return torch.cat([self._one(part) for part in z.split(b)])  # split: one concatenation in the backward


# -- 1. attribution on the classifier's input ----------------------------------------------------
def gradient_attribution(
    classifier: nn.Module,
    x,
    target,
    *,
    method: str = "saliency",
    preset: str | Preset = "cpu",
    n_steps: int = 32,
    nt_samples: int = 16,
    stdev: float = 0.15,
    seed: int = 0,
    device: str | torch.device | None = None,
    batch_size: int | None = INFERENCE_BATCH_SIZE,
) -> np.ndarray:
    """Gradient attribution of a target logit to the classifier's log-mel input (captum).

    The log-mel input is computed once with :meth:`FrontEnd.logmel` (no gradient through the front
    end), then one of:

    * ``'saliency'`` — ``|∂f_c/∂L|`` (captum ``Saliency``, ``abs=True``);
    * ``'integrated_gradients'`` — ``|(L − L₀) ⊙ ∫₀¹ ∂f_c/∂L(L₀ + α(L − L₀)) dα|`` (captum
      ``IntegratedGradients``, Gauss-Legendre, ``n_steps`` points) with the baseline ``L₀`` = each
      clip's minimum log-mel value everywhere, i.e. silence at the clip's ``top_db`` floor. Before
      the absolute value the attributions sum to ``f_c(L) − f_c(L₀)`` (completeness);
    * ``'smoothgrad'`` — the mean of ``|∂f_c/∂L|`` (captum ``Saliency``) over ``nt_samples`` noisy
      copies ``L + N(0, σ²)``, ``σ = stdev × (max L − min L)`` of each clip (as Smilkov et al.'s σ
      relative to the input's range, and as captum's ``NoiseTunnel(Saliency)`` computes it for one
      clip). Each clip's noise comes from its own generator, seeded by ``seed`` and a checksum of its
      waveform: a clip gets the same attribution whatever batch (or pass of a study) it is in, the
      result is reproducible, and the global RNG state is never touched.

    The classifier is put in eval mode and its parameters stop requiring gradients for the call; both
    are restored afterwards, and no parameter ``.grad`` is written.

    Parameters
    ----------
    classifier : nn.Module
        Maps log-mel ``(B, n_mels, n_frames)`` (dB, as :meth:`FrontEnd.logmel`) to logits ``(B, C)``,
        e.g. :class:`~l2i_core.models.classifier.AudioCNN`. A tuple or dict output counts by its first item.
    x : np.ndarray or torch.Tensor [shape=(B, n_samples) or (n_samples,)]
        Waveforms at the preset's sample rate.
    target : int or sequence of int [shape=(B,)]
        Class whose logit is attributed, one for all clips or one per clip.
    method : {'saliency', 'integrated_gradients', 'smoothgrad'}
    preset : str or Preset
        Front-end preset (``'cpu'`` or ``'paper'``); must match the classifier's.
    n_steps : int
        Integration points of Integrated Gradients.
    nt_samples : int
        Noisy samples of SmoothGrad.
    stdev : float
        SmoothGrad noise level as a fraction of the input's dynamic range (max − min, in dB).
    seed : int
        Seed of the SmoothGrad noise.
    device : str, torch.device or None
        Where to compute; ``None`` uses the classifier's device. A given device moves the classifier
        there (``classifier.to(device)``).
    batch_size : int or None
        Rows per forward and backward pass through f (default
        :data:`~l2i_core._utils.INFERENCE_BATCH_SIZE`; ``None``: each of captum's passes whole). It
        changes the time, not the attribution: captum's steps and noise are drawn as without it, and
        in eval mode each row's gradient is its own.

    Returns
    -------
    attribution : np.ndarray [shape=(B, n_mels, n_frames), dtype=float32]
        Non-negative scores on the log-mel grid.

    Raises
    ------
    ParameterError
        On an unknown method, badly shaped waveforms, a target out of range or bad step counts.

    Examples
    --------
    >>> from l2i_core.models.classifier import AudioCNN
    >>> net = AudioCNN(10, "cpu")
    >>> a = gradient_attribution(net, np.random.randn(2, 22050), 3, method="saliency")
    >>> a.shape
    (2, 64, 44)
    """
    if target is None:
        raise ParameterError("gradient_attribution needs the class of each clip (an int, or one per clip); "
                             "GradientMask(...).attribute(x) explains f's own predictions")
    return _attribution(classifier, x, target, method=method, preset=get_preset(preset), n_steps=n_steps,
                        nt_samples=nt_samples, stdev=stdev, seed=seed, device=device, batch_size=batch_size)[0]


def _attribution(classifier: nn.Module, x, target, *, method: str, preset: Preset, n_steps: int = 32,
                 nt_samples: int = 16, stdev: float = 0.15, seed: int = 0, device=None,
                 batch_size: int | None = INFERENCE_BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """:func:`gradient_attribution` and f's logits ``(B, C)`` of the clips (float32, CPU)."""
    _check_method(method)
    if int(n_steps) < 1 or int(nt_samples) < 1:
        raise ParameterError(f"n_steps and nt_samples must be >= 1, got n_steps={n_steps}, nt_samples={nt_samples}")
    if batch_size is not None and int(batch_size) < 1:
        raise ParameterError(f"batch_size must be >= 1 or None, got {batch_size}")
    if not np.isfinite(stdev) or stdev < 0:
        raise ParameterError(f"stdev must be a finite number >= 0, got {stdev}")
    x = as_waveform_batch(x)
    device = module_device(classifier, device)
    classifier.to(device)
    front = FrontEnd(preset).to(device)
    with torch.no_grad():
        L = front.logmel(x.to(device)).contiguous()  # (B, n_mels, T)
    B = L.shape[0]
    forward = _Logits(classifier, batch_size)

    was_training = classifier.training
    requires = [p.requires_grad for p in classifier.parameters()]
    classifier.eval()
    try:
        for p in classifier.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            logits = forward(L)
        if logits.ndim != 2 or logits.shape[0] != B:
            raise ParameterError(f"classifier must return logits (batch, n_classes), got shape {tuple(logits.shape)}")
        t = torch.as_tensor(clip_targets(target, B, logits.shape[1]), device=device)

        if method == "saliency":
            attr = Saliency(forward).attribute(L.requires_grad_(True), target=t, abs=True)
        elif method == "integrated_gradients":
            baseline = L.amin(dim=(-2, -1), keepdim=True).expand_as(L).contiguous()
            attr = IntegratedGradients(forward).attribute(
                L, baselines=baseline, target=t, n_steps=int(n_steps),
                internal_batch_size=max(B, _INTERNAL_BATCH),
            ).abs()
        else:  # smoothgrad: each clip its own noise scale and its own noise, whatever else is in the batch
            k = int(nt_samples)
            sigma = float(stdev) * (L.amax(dim=(-2, -1)) - L.amin(dim=(-2, -1)))
            waves = x.detach().cpu().numpy()
            step = max(1, _INTERNAL_BATCH // k)  # clips per backward: about _INTERNAL_BATCH noisy rows
            parts = []
            for s0 in range(0, B, step):
                rows = range(s0, min(B, s0 + step))
                noise = torch.stack([torch.randn((k, *L.shape[1:]), generator=torch.Generator().manual_seed(
                    _clip_seed(seed, waves[i]))) for i in rows]).to(device)
                noisy = (L[s0 : s0 + len(rows), None] + sigma[s0 : s0 + len(rows), None, None, None] * noise)
                a = Saliency(forward).attribute(noisy.reshape(-1, *L.shape[1:]).requires_grad_(True),
                                                target=t[s0 : s0 + len(rows)].repeat_interleave(k), abs=True)
                parts.append(a.reshape(len(rows), k, *L.shape[1:]).mean(dim=1))
            attr = torch.cat(parts)
    finally:
        for p, r in zip(classifier.parameters(), requires):
            p.requires_grad_(r)
        classifier.train(was_training)
    return attr.detach().clamp_min(0).cpu().numpy().astype(np.float32), logits.float().cpu().numpy()



def _clip_seed(seed: int, waveform: np.ndarray) -> int:
    """A 63-bit seed from ``seed`` and the bytes of one clip (the same clip → the same noise)."""
    crc = zlib.crc32(np.ascontiguousarray(waveform, dtype=np.float32).tobytes())
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, crc]).generate_state(2, np.uint64)[0] >> np.uint64(1))


# -- 2. mel grid -> STFT grid ---------------------------------------------------------------------
def mel_to_linear(attr_mel, preset: str | Preset = "cpu", *, n_frames: int | None = None) -> np.ndarray:
    """Project a score map from the mel grid to the STFT grid with the transposed mel filterbank.

    Each STFT bin f gets the weighted average of the mel bands covering it,
    ``Σ_m B[m, f] a[m] / Σ_m B[m, f]`` with ``B`` the preset's librosa mel filterbank
    (:attr:`FrontEnd.mel_basis`, Slaney-normalised); a bin that no band covers gets 0. A constant map
    therefore stays the same constant on every covered bin, whatever the bands' heights.

    Parameters
    ----------
    attr_mel : np.ndarray or torch.Tensor [shape=(..., n_mels, n_frames)]
    preset : str or Preset
    n_frames : int or None
        V's frames, where f has its own STFT (the ``aisfx`` preset): the map is then also
        interpolated in time from f's frames to V's (default: as many as f's frames span).

    Returns
    -------
    np.ndarray [shape=(..., n_freq, n_frames), dtype=float32]

    Raises
    ------
    ParameterError
        If the mel axis does not match the preset's ``n_mels``.
    """
    p = get_preset(preset)
    a = attr_mel.detach().cpu().numpy() if torch.is_tensor(attr_mel) else np.asarray(attr_mel)
    if a.ndim < 2 or a.shape[-2] != p.n_mels:
        raise ParameterError(
            f"attr_mel must have shape (..., {p.n_mels}, n_frames) for preset {p.name!r}, got {a.shape}"
        )
    basis = FrontEnd(p).v_mel_basis().astype(np.float64)  # (n_mels, n_freq), f's bands on V's grid
    cover = basis.sum(axis=0)  # (n_freq,)
    weights = np.divide(basis, cover, out=np.zeros_like(basis), where=cover > 0)  # columns sum to 1 or 0
    out = np.matmul(weights.T, a.astype(np.float64))
    if not p.shared_stft:  # f's frames (hop f_hop_length) linearly interpolated at V's frame centres
        T_f = a.shape[-1]
        n_frames = int(n_frames or (T_f - 1) * p.f_hop_length // p.hop_length + 1)
        t_v = np.arange(n_frames) * p.hop_length / p.f_hop_length  # V's frame centres in f's frames
        flat = out.reshape(-1, T_f)
        out = np.stack([np.interp(t_v, np.arange(T_f), row) for row in flat]).reshape(*out.shape[:-1], n_frames)
    return out.astype(np.float32)


# -- 3. binary mask --------------------------------------------------------------------------------
def top_fraction_mask(score, keep_fraction) -> np.ndarray:
    """Per clip, a binary mask keeping the ``keep_fraction`` largest bins of ``score``.

    Clip i keeps exactly ``max(1, round(keep_fraction[i] · n_bins))`` bins, ``n_bins`` = the product
    of its non-batch dimensions (``F · T`` for a spectrogram). Ties are broken deterministically:
    among equal scores the bin that comes first in C order (lower frequency, then earlier frame)
    wins.

    Parameters
    ----------
    score : np.ndarray or torch.Tensor [shape=(B, F, T)]
        Any finite scores; larger means more relevant.
    keep_fraction : float or array-like [shape=(B,)]
        Share of bins to keep, in (0, 1], one for all clips or one per clip.

    Returns
    -------
    mask : np.ndarray [shape=(B, F, T), dtype=float32]
        1.0 on kept bins, 0.0 elsewhere.

    Raises
    ------
    ParameterError
        If ``score`` has fewer than 2 dimensions or non-finite values, or ``keep_fraction`` is
        outside (0, 1] or has the wrong length.
    """
    return top_fraction_mask_from_ranks(bin_ranks(score), keep_fraction)


def top_fraction_mask_from_ranks(ranks: np.ndarray, keep_fraction) -> np.ndarray:
    """:func:`top_fraction_mask` of the scores whose :func:`bin_ranks` are ``ranks``, without sorting again.

    Parameters
    ----------
    ranks : np.ndarray [shape=(B, F, T)]
        From :func:`bin_ranks`.
    keep_fraction : float or array-like [shape=(B,)]
        As :func:`top_fraction_mask`'s.

    Returns
    -------
    mask : np.ndarray [shape=(B, F, T), dtype=float32]
    """
    B, n_bins = ranks.shape[0], int(np.prod(ranks.shape[1:]))
    frac = np.asarray(keep_fraction, dtype=np.float64).reshape(-1)
    if frac.size == 1:
        frac = np.full(B, frac.item())
    if frac.size != B:
        raise ParameterError(f"keep_fraction has {frac.size} values for {B} clips; give one or one per clip")
    if not np.all((frac > 0) & (frac <= 1)):
        raise ParameterError(f"keep_fraction must be in (0, 1], got {frac.tolist()}")
    k = np.maximum(1, np.rint(frac * n_bins).astype(np.int64))
    return (ranks < k.reshape((B,) + (1,) * (ranks.ndim - 1))).astype(np.float32)


def bin_ranks(score) -> np.ndarray:
    """Per clip, the rank of every bin by decreasing score (0: the largest), ties in C order.

    ``bin_ranks(score) < k`` is the mask of the ``k`` largest bins, exactly as :func:`top_fraction_mask`
    keeps them; computing the ranks once serves every share of a deletion / insertion curve (one sort
    per clip instead of one per share).

    Parameters
    ----------
    score : np.ndarray or torch.Tensor [shape=(B, F, T)]
        Any finite scores; larger means more relevant.

    Returns
    -------
    np.ndarray [shape=(B, F, T), dtype=int32 or int64]
    """
    s = score.detach().cpu().numpy() if torch.is_tensor(score) else np.asarray(score)
    if s.ndim < 2 or s.shape[0] == 0 or s[0].size == 0:
        raise ParameterError(f"score must have shape (batch, n_freq, n_frames), got {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ParameterError("score contains NaN or inf values")
    B, n_bins = s.shape[0], int(np.prod(s.shape[1:]))
    flat = s.reshape(B, n_bins)
    ranks = np.empty((B, n_bins), dtype=np.int32 if n_bins < 2**31 else np.int64)
    positions = np.arange(n_bins, dtype=ranks.dtype)
    for i in range(B):
        order = np.argsort(-flat[i], kind="stable")  # stable: ties keep C order
        ranks[i, order] = positions
    return ranks.reshape(s.shape)


# -- 4. the whole baseline, at a chosen sparsity ---------------------------------------------------------
def gradient_interpretation(
    classifier: nn.Module,
    x,
    target,
    *,
    method: str = "saliency",
    keep_fraction=0.1,
    preset: str | Preset = "cpu",
    **kwargs,
) -> Explanation:
    """A listenable gradient baseline: a binary time-frequency mask from captum, heard like L2I.

    Steps: :func:`gradient_attribution` on the log-mel input → :func:`mel_to_linear` onto the STFT
    grid → :func:`top_fraction_mask` keeping ``keep_fraction`` of the bins → spectrogram
    ``mask ⊙ V`` with ``V = log1p|STFT(x)|`` → audio ``FrontEnd.synthesize(mask ⊙ V, ∠X,
    length=n_samples)``. This is exactly how an L2I interpretation is made audible, so both can be
    scored by the same metrics.

    To compare with L2I at equal sparsity, pass ``keep_fraction`` = the mean of L2I's soft mask of
    each clip (``explanation.sparsity``, one value per row): L2I's mask takes values in [0, 1] and its
    mean is the share of the time-frequency plane it keeps; the binary baseline mask then keeps the
    same share, so neither method wins merely by letting more of the input through.

    Parameters
    ----------
    classifier : nn.Module
        Log-mel → logits, as for :func:`gradient_attribution`.
    x : np.ndarray or torch.Tensor [shape=(B, n_samples) or (n_samples,)]
        Waveforms at the preset's sample rate.
    target : int or sequence of int [shape=(B,)]
        The class of each clip (one row per clip).
    method : {'saliency', 'integrated_gradients', 'smoothgrad'}
    keep_fraction : float or array-like [shape=(B,)]
        Share of STFT bins kept, in (0, 1]; 1 keeps everything and gives back the input.
    preset : str or Preset
    **kwargs
        ``n_steps``, ``nt_samples``, ``stdev``, ``seed``, ``device``, ``batch_size`` of :func:`gradient_attribution`.

    Returns
    -------
    Explanation
        ``method`` is the captum name (one of :data:`METHODS`); ``mask`` binary; ``audio`` always;
        extras ``attribution`` ``(B, n_mels, n_frames)`` (the non-negative scores on the log-mel grid)
        and ``keep_fraction`` ``(B,)``.

    Raises
    ------
    ParameterError
        On an unknown method, bad shapes, a target out of range, or ``keep_fraction`` outside (0, 1].

    Examples
    --------
    >>> from l2i_core.models.classifier import AudioCNN
    >>> net = AudioCNN(10, "cpu")
    >>> g = gradient_interpretation(net, np.random.randn(1, 22050), 3, method="smoothgrad", keep_fraction=0.2)
    >>> g.mask.shape, g.audio.shape
    ((1, 513, 44), (1, 22050))
    """
    _check_method(method)
    if target is None:
        raise ParameterError("gradient_interpretation needs the class of each clip (an int, or one per clip)")
    p = get_preset(preset)
    wav = as_waveform_batch(x)
    B, n_samples = wav.shape
    # check keep_fraction before the (possibly slow) attribution
    top_fraction_mask(np.zeros((B, 1)), keep_fraction)
    attribution, logits = _attribution(classifier, wav, target, method=method, preset=p, **kwargs)
    front = FrontEnd(p)
    with torch.no_grad():
        V, phase = front.magnitude_phase(wav)
    mask = top_fraction_mask(mel_to_linear(attribution, p, n_frames=V.shape[-1]), keep_fraction)
    with torch.no_grad():
        audio = mask_to_audio(torch.from_numpy(mask), V, phase, front, length=n_samples)
    targets = clip_targets(target, B, logits.shape[1])  # checked by the attribution already
    frac = np.asarray(keep_fraction, dtype=np.float64).reshape(-1)
    return Explanation(method=method, target=targets, mask=mask, V=V.numpy(), phase=phase.numpy(), f_logits=logits,
                       sr=p.sr, audio=audio.numpy().astype(np.float32),
                       extras={"attribution": attribution,
                               "keep_fraction": np.broadcast_to(frac, (B,)).copy() if frac.size == 1 else frac})


# -- 5. the explainer -------------------------------------------------------------------------------------
class GradientMask(Explainer):
    """A captum gradient method as a soft mask: ``|attribution|`` on the log-mel input, projected onto
    the STFT grid (:func:`mel_to_linear`) and divided by its maximum per row.

    Parameters
    ----------
    model : AudioModel
    method : {'saliency', 'integrated_gradients', 'smoothgrad'}
    name : str or None
        Default ``'Saliency'``, ``'Integrated Gradients'`` or ``'SmoothGrad'``.
    **kwargs
        ``n_steps``, ``nt_samples``, ``stdev``, ``seed`` of :func:`gradient_attribution`.
    """

    _NAMES = {"saliency": "Saliency", "integrated_gradients": "Integrated Gradients", "smoothgrad": "SmoothGrad"}

    def __init__(self, model: AudioModel, method: str = "saliency", *, name: str | None = None, **kwargs):
        super().__init__(model, name or self._NAMES[_check_method(method)])
        self.method, self.kwargs = method, kwargs

    def masks(self, x, target, V, f_logits, *, stems=None):
        """The soft masks of the rows and ``extras['attribution']`` (on the mel grid)."""
        m = self.model
        attr, _ = _attribution(m.classifier, x, target, method=self.method, preset=m.preset, device=str(m.device),
                               **{"batch_size": m.batch_size, **self.kwargs})
        lin = mel_to_linear(attr, m.preset, n_frames=V.shape[-1])
        peak = lin.reshape(len(lin), -1).max(axis=1).reshape(-1, 1, 1)
        mask = np.divide(lin, peak, out=np.zeros_like(lin), where=peak > 0)
        return torch.from_numpy(np.clip(mask, 0, 1)), {"attribution": attr}
