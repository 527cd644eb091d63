"""A planted classifier whose explanation is known by construction (issue 15 item 5).

* :class:`PlantedCNN` — a small tapped CNN on the cpu preset's log-mel that multiplies its
  (normalised) input by a fixed band mask: it sees only the mel bands centred in :data:`BAND_HZ`,
  and nothing else of the spectrogram can change its output except through the front end's
  per-clip ``top_db`` floor.
* :func:`planted_clips` — seeded 1 s clips: class c is a tone burst at :data:`TONES_HZ` [c] inside
  the band, over a loud band-limited noise distractor in :data:`DISTRACTOR_HZ` (outside the band)
  and a faint broadband noise floor.
* :func:`train_planted` — trains the CNN in seconds (it reaches 100 % on its training clips);
  :func:`planted_caches` — the :class:`~l2i_core.train.cache.ActivationCache` of the train and validation
  clips; :func:`band_bins` — the linear STFT bins f can see (the support of its kept mel filters).

An explainer of this f must put its mask inside :func:`band_bins`.
"""

from __future__ import annotations

import librosa
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from l2i_core.audio.frontend import FrontEnd
from l2i_core.config import get_preset
from l2i_core.models.classifier import FeatureTap
from l2i_core.train.cache import ActivationCache

SR = 22050
SECONDS = 1.0
BAND_HZ = (700.0, 2200.0)  # the only region f sees
TONES_HZ = (900.0, 1400.0, 1900.0)  # class c: a tone burst at TONES_HZ[c]
DISTRACTOR_HZ = (4000.0, 8000.0)  # loud noise f is blind to


def band_mel_mask(preset="cpu") -> np.ndarray:
    """``(n_mels,)`` 0/1: the mel bands whose centre frequency lies in :data:`BAND_HZ`."""
    p = get_preset(preset)
    centres = librosa.mel_frequencies(p.n_mels + 2, fmin=p.fmin, fmax=p.fmax or p.sr / 2)[1:-1]
    return ((centres >= BAND_HZ[0]) & (centres <= BAND_HZ[1])).astype(np.float32)


def band_bins(preset="cpu") -> np.ndarray:
    """``(n_freq,)`` bool: the STFT bins inside the support of the mel filters f keeps."""
    fe = FrontEnd(preset)
    keep = torch.from_numpy(band_mel_mask(preset)).bool()
    return (fe.mel_basis[keep].sum(0) > 0).numpy()


class PlantedCNN(nn.Module):
    """Three conv blocks (3×3 conv, batch norm, ReLU, 2×2 average pooling) on the band-masked log-mel.

    Input ``(B, n_mels, T)`` in dB; it is read as ``max(x + 40, 0) / 40`` and multiplied by
    :func:`band_mel_mask`, so the bands outside :data:`BAND_HZ` are 0 whatever the clip. Everything
    at or below -40 dB reads as 0 (silence): the front end's per-clip floor (peak - 80 dB, below -40 dB
    for clips peaking under +40 dB, as :func:`planted_clips` are) never reaches f, so the
    distractor cannot act on f through it.
    """

    tap_layers = ("blocks.0", "blocks.1", "blocks.2")

    def __init__(self, n_classes: int = len(TONES_HZ), preset="cpu", width: int = 8):
        super().__init__()
        self.register_buffer("band", torch.from_numpy(band_mel_mask(preset)))
        chans = [1, width, 2 * width, 4 * width]
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(), nn.AvgPool2d(2))
            for a, b in zip(chans[:-1], chans[1:]))
        self.fc = nn.Linear(chans[-1], n_classes)
        self.n_classes = n_classes
        self.multilabel = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = ((x + 40.0).clamp_min(0) / 40.0 * self.band[:, None]).unsqueeze(1)
        for block in self.blocks:
            h = block(h)
        return self.fc(h.mean(2).amax(-1))


def _band_noise(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    spec[(f < lo) | (f > hi)] = 0
    y = np.fft.irfft(spec, n)
    return y / np.abs(y).max()


def planted_clips(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(x (n, n_samples) float32, y (n,) int)``: seeded clips, classes cycling 0, 1, 2, ..."""
    rng = np.random.default_rng(seed)
    N = int(SR * SECONDS)
    t = np.arange(N) / SR
    xs, ys = [], []
    for i in range(n):
        c = i % len(TONES_HZ)
        f0 = TONES_HZ[c] * (1 + rng.uniform(-0.02, 0.02))
        start, length = rng.uniform(0.0, 0.3), rng.uniform(0.5, 0.7)
        env = np.clip(np.minimum(t - start, start + length - t) / 0.02, 0, 1)  # 20 ms ramps
        tone = rng.uniform(0.2, 0.4) * env * np.sin(2 * np.pi * f0 * t + rng.uniform(0, 2 * np.pi))
        distractor = rng.uniform(4.0, 5.0) * _band_noise(rng, N, *DISTRACTOR_HZ)
        floor = 3e-4 * rng.standard_normal(N)  # about -50 dB on the log-mel: silence to f
        xs.append(tone + distractor + floor)
        ys.append(c)
    return np.stack(xs).astype(np.float32), np.asarray(ys)


def train_planted(seed: int = 0, n: int = 48, epochs: int = 30) -> PlantedCNN:
    """The planted f trained on ``n`` clips (Adam, lr 3e-3, batches of 16), in eval mode."""
    torch.manual_seed(seed)
    x, y = planted_clips(n, seed=seed + 100)
    feats = FrontEnd("cpu").logmel(torch.from_numpy(x))
    y = torch.from_numpy(y)
    model = PlantedCNN()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(n, generator=g)
        for s in range(0, n, 16):
            idx = order[s : s + 16]
            loss = F.cross_entropy(model(feats[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def cache_of(model: nn.Module, x: np.ndarray, preset="cpu") -> ActivationCache:
    """The activation cache of ``model`` (tapped with FeatureTap) on waveforms ``x``."""
    fe = FrontEnd(preset)
    xt = torch.from_numpy(x)
    logits, maps = FeatureTap(model.eval(), model.tap_layers)(fe.logmel(xt))
    return ActivationCache(maps=[m.float() for m in maps], logits=logits.float(), V=fe.log_magnitude(xt),
                           uids=[f"planted-{i}" for i in range(len(x))])


def planted_caches(model: nn.Module, n_train: int = 64, n_val: int = 24, seed: int = 0):
    """``(train_cache, val_cache, (x_val, y_val))`` on fresh planted clips (other seeds than training f)."""
    x_tr, _ = planted_clips(n_train, seed=seed + 200)
    x_va, y_va = planted_clips(n_val, seed=seed + 300)
    return cache_of(model, x_tr), cache_of(model, x_va), (x_va, y_va)
