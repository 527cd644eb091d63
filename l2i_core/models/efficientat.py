"""EfficientAT ``mn04_as``: an AudioSet tagger (MobileNetV3, width 0.4) in l2i's own code, with its front end.

The network and its weights are from F. Schmid, K. Koutini and G. Widmer, *Efficient Large-Scale Audio
Tagging via Transformer-to-CNN Knowledge Distillation*, ICASSP 2023 (GitHub ``fschmid56/EfficientAT``,
MIT licence, Copyright (c) 2022 Florian Schmid). This module is l2i's own rewrite of their MobileNetV3
variant, written from their description (``models/mn``) so that its module names, and hence the keys of
its state dict, are theirs: the release file ``mn04_as_mAP_432.pt`` loads with ``strict=True``. The
AudioSet class names (``class_labels_indices.csv``) are Google's, CC BY 4.0.

Network (width multiplier 0.4, channels rounded by :func:`make_divisible` to multiples of 8)::

    features.0        3×3 conv, stride 2, BN, hardswish                          8 ch
    features.1..15    15 inverted-residual blocks (MobileNetV3-Large table)    8 → 64 ch
    features.16       1×1 conv, BN, hardswish                                  384 ch
    classifier        mean over (freq, time) → Linear 384→512 → hardswish → dropout → Linear 512→527

Squeeze-excitation (blocks 4–6 and 11–15) is EfficientAT's channel variant (``se_dims='c'``): the mean
over frequency and time, ``Linear → ReLU → Linear → sigmoid``, bottleneck ``make_divisible(C // 4, 8)``.
Batch norm uses ``eps=1e-3``. The pooled features are the 384-d mean of ``features.16`` (384 = 6 × 64 for
width 0.4; the 960 of the publisher's tables is the width-1.0 ``mn10``).

Taps (:attr:`EfficientATMN.tap_layers`): ``features.6``, ``features.12`` and ``features.15``, the last
block of each of the network's three deepest resolution stages (strides 8, 16 and 32 of the mel ×
frame grid: for a 5 s clip 16 ch × 16 × 63, 48 ch × 8 × 32 and 64 ch × 4 × 16). Each is the deepest
map at its resolution (the next block downsamples), so the three form a feature pyramid from local
spectro-temporal patterns to class-level evidence, as the paper taps the last three conv blocks of its
CNN; ``features.16`` is left out because it is a 1×1 expansion of ``features.15`` with no new context.

Front end (:class:`EfficientATFrontEnd`, torch only, no torchaudio), as the network was trained: 32 kHz
mono; pre-emphasis ``y[n] = x[n] − 0.97·x[n−1]`` (with ``x[−1] = 0``, so the length is kept: the
publisher's ``conv1d`` drops the first sample instead, one sample of shift); STFT n_fft 1024, symmetric
Hann window of 800 samples, hop 320, centred (reflect padding); power; 128 triangular filters on the
Kaldi mel scale ``1127·ln(1 + f/700)`` from 0 to 15 kHz plus a zero column for the Nyquist bin;
``log(mel + 1e-5)``; ``(· + 4.5) / 5``. A 5 s clip gives 128 × 501.

Weights: :func:`efficientat_weights` finds ``$L2I_MODELS/efficientat/mn04_as_mAP_432.pt``, else the user
cache, downloading it on first use from the publisher's GitHub release, checked by its sha256.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pooch
import torch
import torch.nn.functional as F
from torch import nn

from l2i_core._errors import DataNotFoundError, L2IError, ParameterError
from l2i_core.audio.frontend import kaldi_mel_filterbank
from l2i_core.config import Preset
from l2i_core.data.registry import cache_dir, offline
from l2i_core.models.pretrained import BackboneClassifier

__all__ = [
    "EFFICIENTAT_FILE",
    "EFFICIENTAT_URL",
    "EFFICIENTAT_SHA256",
    "EFFICIENTAT_LABELS_FILE",
    "EFFICIENTAT_LABELS_URL",
    "EFFICIENTAT_LABELS_SHA256",
    "EFFICIENTAT_CREDIT",
    "EFFICIENTAT_SR",
    "make_divisible",
    "EfficientATFrontEnd",
    "EfficientATMN",
    "efficientat_weights",
    "audioset_labels",
    "load_efficientat",
    "EfficientATClassifier",
]

log = logging.getLogger(__name__)

EFFICIENTAT_FILE = "mn04_as_mAP_432.pt"
EFFICIENTAT_URL = f"https://github.com/fschmid56/EfficientAT/releases/download/v0.0.1/{EFFICIENTAT_FILE}"
EFFICIENTAT_SHA256 = "899a8c6217063f6941793102a2780b3dd788ab11fce468d9cf5f0577c453321c"
"""sha256 of ``mn04_as_mAP_432.pt`` (4,066,513 bytes)."""
EFFICIENTAT_LABELS_FILE = "class_labels_indices.csv"
EFFICIENTAT_LABELS_URL = ("https://raw.githubusercontent.com/fschmid56/EfficientAT/"
                          f"a425fdce92572e602a1d5634799bd9f1f2efa806/metadata/{EFFICIENTAT_LABELS_FILE}")
EFFICIENTAT_LABELS_SHA256 = "cdd1049833c4b86127c2773ac0d14a2754b6a6d0d1798002ed5c66e699708429"
"""sha256 of the publisher's ``metadata/class_labels_indices.csv`` (14,675 bytes, 527 rows)."""
#: Sizes in bytes (``l2i download --list``) and the licences of the weights and of the label names.
EFFICIENTAT_BYTES = 4_066_513
EFFICIENTAT_LABELS_BYTES = 14_675
EFFICIENTAT_LICENCE = "MIT (F. Schmid, fschmid56/EfficientAT); AudioSet label names CC BY 4.0 (Google)"
EFFICIENTAT_SR = 32_000
EFFICIENTAT_CREDIT = ("EfficientAT mn04_as: F. Schmid, K. Koutini, G. Widmer, \"Efficient Large-Scale Audio Tagging "
                      "via Transformer-to-CNN Knowledge Distillation\", ICASSP 2023 (GitHub fschmid56/EfficientAT, MIT)")

_SUBDIR = "efficientat"


# ----------------------------------------------------------------------------------------------------
# Architecture
# ----------------------------------------------------------------------------------------------------
def make_divisible(v: float, divisor: int = 8) -> int:
    """Round ``v`` to the nearest multiple of ``divisor`` (at least ``divisor``), never more than 10 % below ``v``.

    MobileNet's channel rounding: ``make_divisible(16 * 0.4) == 8``, ``make_divisible(24 * 0.4) == 16``.
    """
    out = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * v else out


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


def _conv_bn_act(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1,
                 act: type[nn.Module] | None = nn.Hardswish) -> nn.Sequential:
    """conv (no bias) → BN → activation, as ``Sequential`` items ``0``, ``1``, ``2`` (state-dict keys ``.0``, ``.1``)."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                               _bn(c_out)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class _ChannelSE(nn.Module):
    """Squeeze-excitation over channels: ``x · σ(fc2(relu(fc1(mean_{f,t} x))))``."""

    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.fc1 = nn.Linear(channels, squeeze)
        self.fc2 = nn.Linear(squeeze, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3))))))
        return x * s[:, :, None, None]


class _SEGroup(nn.Module):
    """EfficientAT's container of concurrent SE layers (``conc_se_layers``); mn04_as has one, over channels."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        self.conc_se_layers = nn.ModuleList([_ChannelSE(channels, make_divisible(channels // reduction, 8))])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [se(x) for se in self.conc_se_layers]
        return outs[0] if len(outs) == 1 else torch.stack(outs).amax(dim=0)


class _InvertedResidual(nn.Module):
    """MobileNetV3 block: [1×1 expand] → k×k depthwise → [SE] → 1×1 project, + input when shapes agree."""

    def __init__(self, c_in: int, kernel: int, c_exp: int, c_out: int, use_se: bool, hardswish: bool, stride: int):
        super().__init__()
        act = nn.Hardswish if hardswish else nn.ReLU
        layers: list[nn.Module] = []
        if c_exp != c_in:
            layers.append(_conv_bn_act(c_in, c_exp, 1, act=act))
        layers.append(_conv_bn_act(c_exp, c_exp, kernel, stride, groups=c_exp, act=act))
        if use_se:
            layers.append(_SEGroup(c_exp))
        layers.append(_conv_bn_act(c_exp, c_out, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return y + x if self.residual else y


# MobileNetV3-Large (Howard et al. 2019, Table 1), as EfficientAT uses it:
# (in, kernel, expanded, out, squeeze-excitation, hardswish, stride), channels before the width multiplier.
_MBV3_LARGE = (
    (16, 3, 16, 16, False, False, 1),
    (16, 3, 64, 24, False, False, 2),
    (24, 3, 72, 24, False, False, 1),
    (24, 5, 72, 40, True, False, 2),
    (40, 5, 120, 40, True, False, 1),
    (40, 5, 120, 40, True, False, 1),
    (40, 3, 240, 80, False, True, 2),
    (80, 3, 200, 80, False, True, 1),
    (80, 3, 184, 80, False, True, 1),
    (80, 3, 184, 80, False, True, 1),
    (80, 3, 480, 112, True, True, 1),
    (112, 3, 672, 112, True, True, 1),
    (112, 5, 672, 160, True, True, 2),
    (160, 5, 960, 160, True, True, 1),
    (160, 5, 960, 160, True, True, 1),
)


class EfficientATMN(nn.Module):
    """EfficientAT's MobileNetV3 for audio tagging (default: ``mn04_as``, width 0.4, 527 AudioSet classes).

    ``forward`` takes the log-mel of :class:`EfficientATFrontEnd`, ``(B, 128, T)`` or ``(B, 1, 128, T)``,
    and returns logits ``(B, n_classes)`` (sigmoid them: AudioSet is multi-label). :meth:`embed` gives the
    pooled features (384-d for width 0.4) and :meth:`forward_with_features` both. :meth:`tag` goes from
    waveforms to ``(label, probability)`` pairs. ``tap_layers`` names three inverted-residual block
    outputs for :class:`~l2i_core.models.classifier.FeatureTap` (see the module docstring for why).

    Build it with the weights with :func:`load_efficientat`.

    Examples
    --------
    >>> net = EfficientATMN()
    >>> net(torch.zeros(2, 128, 501)).shape
    torch.Size([2, 527])
    >>> sum(p.numel() for p in net.parameters())
    983599
    """

    tap_layers = ("features.6", "features.12", "features.15")

    def __init__(self, width_mult: float = 0.4, n_classes: int = 527, head_dim: int = 1280, dropout: float = 0.2):
        super().__init__()
        ch = [(make_divisible(ci * width_mult), k, make_divisible(ce * width_mult), make_divisible(co * width_mult),
               se, hs, s) for ci, k, ce, co, se, hs, s in _MBV3_LARGE]
        last_in = ch[-1][3]
        self.n_features = 6 * last_in
        layers: list[nn.Module] = [_conv_bn_act(1, ch[0][0], 3, stride=2)]
        layers += [_InvertedResidual(*c) for c in ch]
        layers.append(_conv_bn_act(last_in, self.n_features, 1))
        self.features = nn.Sequential(*layers)
        hidden = make_divisible(head_dim * width_mult)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(self.n_features, hidden), nn.Hardswish(),
            nn.Dropout(dropout), nn.Linear(hidden, n_classes))
        self.n_classes = n_classes
        self.labels: list[str] | None = None
        self.frontend = EfficientATFrontEnd()

    @staticmethod
    def _as_image(x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            x = x.unsqueeze(1)
        if x.dim() != 4 or x.shape[1] != 1:
            raise ParameterError(f"EfficientATMN expects a log-mel of shape (B, n_mels, T) or (B, 1, n_mels, T); "
                                 f"got {tuple(x.shape)}")
        return x

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits (B, n_classes), pooled features (B, n_features))`` of one pass."""
        h = self.features(self._as_image(x))
        return self.classifier(h), h.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self._as_image(x)))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, n_features)``: the mean over frequency and time of ``features.16``."""
        return self.features(self._as_image(x)).mean(dim=(2, 3))

    @torch.no_grad()
    def tag(self, waveforms, top: int = 5, sr: int = EFFICIENTAT_SR) -> list[list[tuple[str, float]]]:
        """The ``top`` AudioSet classes of each waveform with their sigmoid probabilities, best first.

        ``waveforms``: ``(n,)`` or ``(B, n)`` array or tensor at ``sr`` (resampled to 32 kHz with librosa
        when it differs). Returns one list of ``(label, probability)`` per waveform. Needs ``self.labels``
        (set by :func:`load_efficientat`).
        """
        if self.labels is None:
            raise ParameterError("this EfficientATMN has no labels; load it with load_efficientat() or set .labels")
        y = np.asarray(waveforms.detach().cpu() if isinstance(waveforms, torch.Tensor) else waveforms, dtype=np.float32)
        if y.ndim == 1:
            y = y[None]
        if y.ndim != 2 or y.shape[-1] == 0:
            raise ParameterError(f"tag expects waveforms of shape (n,) or (B, n); got {y.shape}")
        if sr != EFFICIENTAT_SR:
            import librosa

            y = librosa.resample(y, orig_sr=sr, target_sr=EFFICIENTAT_SR, axis=-1)
        was_training = self.training
        self.eval()
        try:
            device = next(self.parameters()).device
            probs = torch.sigmoid(self(self.frontend(torch.from_numpy(np.ascontiguousarray(y)).to(device)))).cpu()
        finally:
            self.train(was_training)
        k = min(int(top), probs.shape[-1])
        vals, idx = probs.topk(k, dim=-1)
        return [[(self.labels[i], float(v)) for v, i in zip(vr.tolist(), ir.tolist())] for vr, ir in zip(vals, idx)]


# ----------------------------------------------------------------------------------------------------
# Front end
# ----------------------------------------------------------------------------------------------------
class EfficientATFrontEnd(nn.Module):
    """Waveform at 32 kHz ``(n,)`` or ``(B, n)`` → EfficientAT's log-mel ``(B, 128, 1 + n // 320)``.

    Pre-emphasis, STFT (n_fft 1024, symmetric Hann window 800, hop 320, centred), power, 128 Kaldi mel
    filters 0–15 kHz, ``(log(mel + 1e-5) + 4.5) / 5``. Differentiable; its buffers are not saved in
    state dicts. :meth:`power_spectrogram` gives the ``(B, 513, T)`` grid the mel filters act on.

    Examples
    --------
    >>> EfficientATFrontEnd()(torch.zeros(2, 160_000)).shape
    torch.Size([2, 128, 501])
    """

    def __init__(self, n_mels: int = 128, sr: int = EFFICIENTAT_SR, n_fft: int = 1024, win_length: int = 800,
                 hop_length: int = 320, fmin: float = 0.0, fmax: float | None = None, preemphasis: float = 0.97):
        super().__init__()
        self.sr, self.n_fft, self.win_length, self.hop_length = sr, n_fft, win_length, hop_length
        self.preemphasis = preemphasis
        fmax = sr / 2 - 1000.0 if fmax is None else fmax
        fb, _ = kaldi_mel_filterbank(n_mels, n_fft, sr, fmin, fmax)
        self.register_buffer("window", torch.hann_window(win_length, periodic=False), persistent=False)
        self.register_buffer("mel_fb", torch.from_numpy(fb), persistent=False)

    def power_spectrogram(self, y: torch.Tensor) -> torch.Tensor:
        """``|STFT(pre-emphasised y)|²``, ``(B, n_fft // 2 + 1, 1 + n // hop)``."""
        if y.dim() == 1:
            y = y.unsqueeze(0)
        if y.dim() != 2:
            raise ParameterError(f"EfficientATFrontEnd expects waveforms (n,) or (B, n); got {tuple(y.shape)}")
        y = y.to(self.window.dtype)
        y = torch.cat([y[:, :1], y[:, 1:] - self.preemphasis * y[:, :-1]], dim=1)
        spec = torch.stft(y, self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                          window=self.window, center=True, pad_mode="reflect", return_complex=True)
        return spec.real.square() + spec.imag.square()

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        mel = torch.matmul(self.mel_fb, self.power_spectrogram(y))
        return (torch.log(mel + 1e-5) + 4.5) / 5.0


# ----------------------------------------------------------------------------------------------------
# Weights and labels
# ----------------------------------------------------------------------------------------------------
def _check(path: Path) -> Path:
    got = pooch.file_hash(str(path), alg="sha256")
    if got != EFFICIENTAT_SHA256:
        raise L2IError(f"{path}: sha256 {got} differs from the pinned {EFFICIENTAT_SHA256} of {EFFICIENTAT_FILE}; "
                       f"refusing it: delete the file and download it again from {EFFICIENTAT_URL}")
    return path


def _cache_folder() -> Path:
    return cache_dir() / "models" / _SUBDIR


def _local_candidates(fname: str) -> list[Path]:
    """Where ``fname`` may already be, in order: ``$L2I_MODELS/efficientat/``, then the user cache."""
    env = os.environ.get("L2I_MODELS")
    return ([Path(env).expanduser() / _SUBDIR / fname] if env else []) + [_cache_folder() / fname]


def efficientat_weights(*, download: bool = True) -> Path:
    """Path of ``mn04_as_mAP_432.pt``, checked by its sha256.

    Looks in ``$L2I_MODELS/efficientat/``, then in the user cache (``$L2I_CACHE`` or
    ``pooch.os_cache('l2i')``, folder ``models/efficientat``); if it is in neither, downloads it there
    from the publisher's GitHub release with pooch (to a temporary file, checked, then moved), unless
    ``download=False`` or ``L2I_OFFLINE=1``.

    Raises
    ------
    DataNotFoundError
        The file is nowhere and may not be downloaded (one line: the file, ``L2I_MODELS``, the URL).
    L2IError
        A file found (or downloaded) has another sha256 (both checksums in the message).
    """
    candidates = _local_candidates(EFFICIENTAT_FILE)
    for c in candidates:
        if c.is_file():
            return _check(c)
    tried = [str(c) for c in candidates]
    if not download or offline():
        why = "L2I_OFFLINE is set" if offline() else "download=False"
        raise DataNotFoundError(f"{EFFICIENTAT_FILE} not found (looked in {', '.join(tried)}) and {why}; set L2I_MODELS "
                                f"to a folder holding {_SUBDIR}/{EFFICIENTAT_FILE}, or download it from {EFFICIENTAT_URL}")
    log.info("downloading %s from %s", EFFICIENTAT_FILE, EFFICIENTAT_URL)
    try:
        got = pooch.retrieve(EFFICIENTAT_URL, known_hash=f"sha256:{EFFICIENTAT_SHA256}", fname=EFFICIENTAT_FILE,
                             path=_cache_folder(), progressbar=False)
    except ValueError as e:  # pooch: hash mismatch (the temporary file is removed)
        raise L2IError(f"{EFFICIENTAT_URL}: the download's sha256 differs from the pinned {EFFICIENTAT_SHA256}; "
                       f"refusing it ({' '.join(str(e).split())})") from None
    except Exception as e:  # network errors
        raise DataNotFoundError(f"could not download {EFFICIENTAT_FILE} from {EFFICIENTAT_URL} "
                                f"({type(e).__name__}: {' '.join(str(e).split())}); set L2I_MODELS to a folder holding "
                                f"{_SUBDIR}/{EFFICIENTAT_FILE}") from None
    return _check(Path(got))


def _read_labels(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or "display_name" not in rows[0] or "index" not in rows[0]:
        raise ParameterError(f"{path}: not an AudioSet label file (need columns index,mid,display_name)")
    rows.sort(key=lambda r: int(r["index"]))
    return [r["display_name"] for r in rows]


def audioset_labels(path: str | os.PathLike | None = None, *, download: bool = True) -> list[str]:
    """The 527 AudioSet display names in the order of the model's outputs, from ``class_labels_indices.csv``.

    ``path``: the CSV, or a folder holding it. Default: ``$L2I_MODELS/efficientat/``, else the user cache's
    ``models/efficientat/``, else (unless ``download=False`` or ``L2I_OFFLINE=1``) downloaded there from
    the publisher's repository at a pinned commit, checked by its sha256.

    Raises
    ------
    DataNotFoundError
        The file is not found and may not (or could not) be downloaded; the message names the file.
    """
    if path is not None:
        p = Path(path).expanduser()
        c = p / EFFICIENTAT_LABELS_FILE if p.is_dir() else p
        if c.is_file():
            return _read_labels(c)
        raise DataNotFoundError(f"{EFFICIENTAT_LABELS_FILE} (the AudioSet class names) not found at {c}")
    candidates = _local_candidates(EFFICIENTAT_LABELS_FILE)
    for c in candidates:
        if c.is_file():
            return _read_labels(c)
    where = ", ".join(str(c) for c in candidates)
    if not download or offline():
        raise DataNotFoundError(f"{EFFICIENTAT_LABELS_FILE} (the AudioSet class names) not found in {where}; put it "
                                f"in $L2I_MODELS/{_SUBDIR}/ beside {EFFICIENTAT_FILE}, or download it from "
                                f"{EFFICIENTAT_LABELS_URL}")
    try:
        got = pooch.retrieve(EFFICIENTAT_LABELS_URL, known_hash=f"sha256:{EFFICIENTAT_LABELS_SHA256}",
                             fname=EFFICIENTAT_LABELS_FILE, path=_cache_folder(), progressbar=False)
    except Exception as e:
        raise DataNotFoundError(f"{EFFICIENTAT_LABELS_FILE} (the AudioSet class names) not found in {where} and could "
                                f"not be downloaded from {EFFICIENTAT_LABELS_URL} "
                                f"({type(e).__name__}: {' '.join(str(e).split())})") from None
    return _read_labels(Path(got))


def load_efficientat(path: str | os.PathLike | None = None, *, labels: bool | Sequence[str] = True,
                     download: bool = True) -> EfficientATMN:
    """``mn04_as`` with its weights loaded strictly, in eval mode (and its AudioSet labels).

    ``path``: a weights file (checked by its sha256); default :func:`efficientat_weights`. ``labels``:
    ``True`` reads ``class_labels_indices.csv`` beside the weights, else as :func:`audioset_labels` finds it; ``False``
    leaves ``.labels`` unset, or give the names.
    """
    p = _check(Path(path).expanduser()) if path is not None else efficientat_weights(download=download)
    state = torch.load(p, map_location="cpu", weights_only=True)
    net = EfficientATMN()
    net.load_state_dict(state, strict=True)
    net.eval()
    if labels is True:
        beside = p.parent / EFFICIENTAT_LABELS_FILE
        names = audioset_labels(beside) if beside.is_file() else audioset_labels(download=download)
    elif labels is False:
        names = None
    else:
        names = list(labels)
    if names is not None and len(names) != net.n_classes:
        raise ParameterError(f"got {len(names)} labels for {net.n_classes} outputs")
    net.labels = names
    return net



# ----------------------------------------------------------------------------------------------------
# The network l2i fine-tunes and interprets
# ----------------------------------------------------------------------------------------------------
class EfficientATClassifier(BackboneClassifier):
    """mn04_as's convolutional body (``features.0..16``, AudioSet weights) with a new head for the target classes.

    The counterpart of :class:`~l2i_core.models.pretrained.AiSFXClassifier` for the ``efficientat`` preset,
    with the same fine-tuning interface (:mod:`l2i_core.train.finetune`): ``blocks`` (the 17 modules of
    ``features``), ``pool`` (the mean over frequency and time: 384-d), ``head``, ``bottom`` / ``top``,
    ``trainable`` in ``{'head', 'last', 'all'}`` (``'last'``: the last stage, blocks 13–16, at stride 32).

    Parameters
    ----------
    n_classes : int
    preset : str or Preset
        Must be EfficientAT's front end (``'efficientat'``: 128 Kaldi mel bands, its log scaling).
    multilabel : bool
        Sigmoid outputs instead of softmax; the model returns logits either way.
    hidden : int or None
        Width of the head's hidden layer (``None``: a linear head on the pooled 384-d features).
    dropout : float
    pretrained : bool
        Load the AudioSet weights (:func:`efficientat_weights`; ``False``: random weights, for tests).
    trainable : {'head', 'last', 'all'}
        Which part fine-tuning updates; the frozen blocks stay in eval mode (their batch-norm
        statistics are AudioSet's).

    Notes
    -----
    Input ``(batch, 128, n_frames)`` (or with a channel axis of 1): f's features from
    :meth:`FrontEnd.logmel <l2i_core.audio.frontend.FrontEnd.logmel>` of the ``efficientat`` preset.
    Taps (:attr:`tap_layers`): the outputs of blocks 6, 12 and 15, the last block of each of the three
    deepest resolution stages (16, 48 and 64 channels at strides 8, 16 and 32); see the module docstring.
    """

    tap_names = ("low", "mid", "high")
    tap_layers = ("blocks.6", "blocks.12", "blocks.15")
    tap_blocks = (6, 12, 15)
    kind = "efficientat"
    features = "efficientat"
    n_mels = 128
    n_blocks = 17
    last_start = 13
    embedding_dim = 384
    credit = EFFICIENTAT_CREDIT

    def __init__(self, n_classes: int, preset: str | Preset = "efficientat", *, multilabel: bool = False,
                 hidden: int | None = 256, dropout: float = 0.3, pretrained: bool = True, trainable: str = "last"):
        super().__init__()
        self._setup(n_classes, preset, multilabel=multilabel, hidden=hidden, dropout=dropout, trainable=trainable)
        self.blocks = nn.ModuleList(list(EfficientATMN(n_classes=1).features))
        self.head = self._make_head(hidden, dropout)
        if pretrained:
            self.load_backbone(torch.load(efficientat_weights(), map_location="cpu", weights_only=True))
        self.set_trainable(trainable)

    def load_backbone(self, state: dict) -> None:
        """Load the release file's ``features.*`` tensors (every one of them: ``strict=True``)."""
        mine = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        self.blocks.load_state_dict(mine, strict=True)

    @staticmethod
    def pool(h: torch.Tensor) -> torch.Tensor:
        """The pooled features of a block-16 map ``(B, 384, F, T)``: the mean over frequency and time."""
        return h.mean(dim=(2, 3))
