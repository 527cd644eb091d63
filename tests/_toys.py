"""Tiny models shared by the explain, evaluation and widget tests (no data, no training): random ones, and
BandExplainer, whose protocol values are known by construction."""

from __future__ import annotations

import numpy as np
import torch

from l2i_core.audio.frontend import FrontEnd
from l2i_core.config import get_preset
from l2i_core.explain.interface import AudioModel, Explainer
from l2i_core.explain.l2i import Analysis, L2IExplainer, relevance
from l2i_core.models.classifier import AudioCNN
from l2i_core.models.interpreter import L2IInterpreter

SR = 22050


def toy_explainer(multilabel: bool = False, seconds: float = 1.0, C: int = 3, K: int = 8, seed: int = 0):
    """A random AudioCNN + attention interpreter (K atoms) for clips of ``seconds``; returns ``(explainer, n)``."""
    torch.manual_seed(seed)
    clf = AudioCNN(C, "cpu", multilabel=multilabel).eval()
    n = int(seconds * SR)
    T = 1 + n // 512
    W = np.abs(np.random.default_rng(seed).standard_normal((513, K))).astype(np.float32) / 10
    chans = [clf.arch.channels[t - 1] for t in clf.arch.taps]
    interp = L2IInterpreter(W, chans, C, T, pooling="attention").eval()
    return L2IExplainer(clf, interp, "cpu", classes=[f"c{i}" for i in range(C)]), n


class BandModel(AudioModel):
    """f of :class:`BandExplainer`: logit c = the sum of V over the bands class c reads, from any spectrogram."""

    def __init__(self, read: torch.Tensor):
        self.preset = get_preset("cpu")
        self.device = torch.device("cpu")
        self.fe = FrontEnd(self.preset)
        self.input_fn = self.fe.logmel
        self.classifier = None
        self.multilabel = False
        self.read = read
        self.n_classes = C = read.shape[0]
        self.classes = [f"c{i}" for i in range(C)]
        self.f_thresholds = np.full(C, 0.5)
        self.batch_size = 10_000

    def of_magnitude(self, V: torch.Tensor) -> torch.Tensor:
        return torch.einsum("cf,bft->bc", self.read, V)

    def logits_of(self, V, phase=None, *, length=None):
        if phase is not None:  # through audio, as the paper: resynthesise and re-analyse
            V = self.fe.log_magnitude(self.fe.synthesize(V, phase, length=length))
        return self.of_magnitude(V)

    def logits(self, x):
        return self.of_magnitude(self.fe.log_magnitude(torch.as_tensor(np.asarray(x, np.float32))))


class BandExplainer(L2IExplainer):
    """An explainer whose answers are known by construction (issue 14 item 4).

    * the dictionary has ``K`` atoms on disjoint frequency bands of ``band`` bins each (unit norm), so
      the soft mask of an active atom is 1 on its band and 0 elsewhere;
    * f's logit of class c is the sum of V over the bands ``reads[c]`` (default: the band of atom c),
      computed from any spectrogram (:class:`BandModel`), so removing an atom changes exactly the
      logits that read it;
    * Θ pools H by its mean over time and scores ``z @ theta.T`` (``theta`` : (C, K)).

    ``analyse`` returns ``fixed`` when given (an :class:`~l2i_core.explain.l2i.Analysis` built from
    activations by :meth:`from_activations`), else analyses real audio with the cpu front end
    (V = log1p|STFT|, H = Wᵀ V, which needs ``band * K = 513`` rows there).
    """

    def __init__(self, theta, *, K: int, band: int, reads=None, n_freq: int | None = None):
        self.theta = torch.as_tensor(np.asarray(theta, dtype=np.float32))
        C = self.theta.shape[0]
        F = n_freq or K * band
        W = np.zeros((F, K), np.float32)
        for k in range(K):
            W[k * band : (k + 1) * band, k] = 1 / np.sqrt(band)
        self._W = torch.from_numpy(W)
        read = np.zeros((C, F), np.float32)
        for c, bands in enumerate(reads if reads is not None else [[c] for c in range(C)]):
            for k in bands:
                read[c, k * band : (k + 1) * band] = 1.0
        self.read = torch.from_numpy(read)
        Explainer.__init__(self, BandModel(self.read), "L2I (band toy)")
        self.eps = 1e-8
        self.tau, self.top_k, self.detail = None, None, True
        self.fixed = None
        self.interpreter = type("Toy", (), {"n_classes": C})()

    @property
    def W(self) -> torch.Tensor:
        return self._W

    def relevance(self, z, target):
        return relevance(z, self.theta, target)

    def _from(self, x, V, phase, H) -> Analysis:
        z = H.mean(-1)
        return Analysis(x, V, phase, self.model.of_magnitude(V), H, z @ self.theta.T, z)

    def analyse(self, x):
        if self.fixed is not None:
            return self.fixed
        x = torch.as_tensor(np.asarray(x, np.float32)).reshape(-1, np.shape(x)[-1])
        V, phase = self.fe.magnitude_phase(x)
        return self._from(x, V, phase, torch.einsum("fk,bft->bkt", self._W, V))

    def from_activations(self, H, n_samples: int = 64):
        """Fix the analysis to clips with exactly ``V = W H`` (``H`` : (B, K, T)) and zero phase."""
        H = torch.as_tensor(np.asarray(H, dtype=np.float32))
        V = torch.einsum("fk,bkt->bft", self._W, H)
        self.fixed = self._from(torch.zeros(len(H), n_samples), V, torch.zeros_like(V), H)
        return self
