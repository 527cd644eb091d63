"""L-MAC, Listenable Maps for Audio Classifiers (Paissan, Ravanelli, Subakan, ICML 2024), for any tapped classifier.

The method as SpeechBrain's ``recipes/ESC50/interpret/train_lmac.py``, ``hparams/lmac_cnn14.yaml``
and ``speechbrain/lobes/models/L2I.py`` (``CNN14PSI_stft``) define it; the code here is our own.

* A decoder (:class:`LMACDecoder`) reads the frozen classifier's tapped maps, deepest first, and
  upsamples them with a skip sum wherever a shallower map joins; it outputs a sigmoid mask
  M ∈ (0, 1)^{F×T} on ``V = log1p|STFT(x)|`` (``n_masks`` of them for multi-label data).
* Mask-in features are the classifier's own front end applied to ``expm1(M ⊙ V)``, mask-out the same
  with ``1 − M`` (:func:`masked_logits`): in the graph, without an iSTFT round trip, as the explainers'
  ``AudioModel.logits_of`` computes f's log-mel of a magnitude.
* The loss (:func:`lmac_loss`), with ŷ = f's own prediction:
  ``λ_in · CE(f(mask-in), ŷ) − λ_out · CE(f(mask-out), ŷ) + λ_l1 · mean|M| + λ_tv · TV(M)``,
  defaults 4, 0.2, 0.4, 0 (:class:`LMACWeights`, SpeechBrain's); Adam, lr 2e-4, weight decay 2e-6;
  f frozen; the checkpoint of the lowest validation loss is kept (SpeechBrain's ``min_key="loss"``).
* Multi-label data (no published L-MAC handles it; this extension is ours): one mask per class; the
  explained class of a clip is drawn among f's thresholded decisions, and the class's logit is
  scored by binary cross-entropy against 1 (f's decision) for mask-in, subtracted for mask-out.

Two choices of ours, where SpeechBrain's code has none to copy:

* Our classifier's frequency axis is mel, V's is linear. The decoder's last upsampling puts every
  STFT bin at its position along the classifier's frequency axis (:func:`freq_positions`: the mel
  scale of the preset's filterbank), so a mask row lands on the frequencies its map row saw;
  ``CNN14PSI_stft`` stretches the mel axis uniformly with transposed convolutions.
* SpeechBrain's L1 term is ``(|M|.mean() * λ_l1 * ones(B)).sum()``, i.e. ``B · λ_l1 · mean|M|``: its
  effective weight grows with the batch size (6.4 at its batch of 16). :class:`LMACWeights` follows
  that code by default (``l1_batch_sum=True``, with SpeechBrain's batch of 16, validation batched
  the same way); ``l1_batch_sum=False`` is ``λ_l1 · mean|M|`` as the formula reads. Measured on esc10
  (cpu preset, 40 epochs, seed 0): the code's weighting gives masks of mean 0.14 and Fid-In 0.94 on
  the test fold (0.86-0.94 on validation over the epochs); the formula's gives masks of mean 0.45
  and Fid-In 0.93-0.98 on validation, its masks keeping almost half of the time-frequency plane.

Training runs through :class:`~l2i_core.train.engine.Engine` (resumable ``lmac_last.pt``, tqdm, CPU or
CUDA, bfloat16 autocast where native) on an :class:`~l2i_core.train.cache.ActivationCache`; only the two
masked passes through f run per step. :func:`save_lmac` / :func:`load_lmac` keep the decoder as
``lmac.pt`` + ``lmac.json``; :func:`lmac_attribute` explains waveforms.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from l2i_core._errors import ParameterError
from l2i_core._utils import INFERENCE_BATCH_SIZE, batch_starts, resolve_device
from l2i_core._version import __version__
from l2i_core.audio.frontend import FrontEnd
from l2i_core.config import Preset, get_preset
from l2i_core.metrics import classifier_decisions
from l2i_core.models.checkpoints import save_lmac
from l2i_core.models.lmac import LMACDecoder, freq_positions
from l2i_core.train.distributed import barrier, rank_seed
from l2i_core.train.engine import Engine, autocast_context, seeded_generator
from l2i_core.train.losses import LMACWeights, lmac_loss

__all__ = ["LMACConfig", "LMACResult", "SELECTION_METRIC", "masked_logits", "lmac_targets", "train_lmac"]

#: What :func:`train_lmac` selects the checkpoint by, on the validation cache (recorded in the sidecar).
SELECTION_METRIC = "minus the validation L-MAC loss"










# -- the loss ---------------------------------------------------------------------------------------








def masked_logits(classifier: nn.Module, front_end: FrontEnd, V: torch.Tensor, M: torch.Tensor, *,
                  phase: torch.Tensor | None = None, length: int | None = None, amp: bool = False,
                  batch_size: int | None = None) -> torch.Tensor:
    """f's logits of the log-mel of ``expm1(M ⊙ V)``: differentiable in ``M``, no iSTFT where f reads V's STFT.

    The features are those of :meth:`AudioModel.logits_of <l2i_core.explain.l2i.AudioModel.logits_of>`
    without phase: ``power_to_db(mel_power_from_magnitude(expm1(M ⊙ V)))``, in float32; f runs under
    :func:`~l2i_core.train.engine.autocast_context` when ``amp``. Where f has its own STFT (the ``aisfx``
    preset) the masked magnitude is made audio with the input ``phase`` inside the graph and
    re-analysed (:meth:`FrontEnd.features_from_magnitude <l2i_core.audio.frontend.FrontEnd.features_from_magnitude>`).

    Parameters
    ----------
    classifier : nn.Module
        f, on log-mel input ``(B, n_mels, T)``.
    front_end : FrontEnd
    V : torch.Tensor [shape=(B, F, T)]
        ``log1p|STFT(x)|``.
    M : torch.Tensor [shape=(B, F, T)]
        The mask (``1 − M`` for mask-out).
    batch_size : int or None
        Rows per pass through the front end and ``classifier`` (None: all at once). With f in eval
        mode each row's logits, and the gradient that flows back through them, are its own, so this
        changes the time (small passes stay in cache), not the result.

    Returns
    -------
    torch.Tensor [shape=(B, C)], float32
    """
    if M.shape != V.shape:
        raise ParameterError(f"mask {tuple(M.shape)} and V {tuple(V.shape)} must have the same shape (B, F, T)")
    b = len(V) if batch_size is None else max(1, int(batch_size))
    out = []
    # split, not slices: its backward is one concatenation, where each slice's would write a full-size zero gradient
    for i, (m, v) in enumerate(zip(M.split(b), V.split(b))):
        ph = None if phase is None else phase[i * b : (i + 1) * b]
        feats = front_end.features_from_magnitude(torch.expm1(m.float() * v).clamp_min(0), ph, length=length)
        with autocast_context(V.device, amp):
            out.append(classifier(feats).float())
    return torch.cat(out)


def lmac_targets(f_logits: torch.Tensor, *, multilabel: bool, f_thresholds=None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """The class each clip's mask explains: f's top class (multi-class), or one class drawn uniformly
    with ``generator`` among f's decisions (multi-label, :func:`~l2i_core.metrics.classifier_decisions`;
    f's top class for a clip with none). Returns a CPU long tensor ``(B,)``."""
    logits = f_logits.detach().float().cpu()
    top = logits.argmax(1)
    if not multilabel:
        return top
    w = torch.from_numpy(classifier_decisions(logits.numpy(), f_thresholds)).float()
    none = w.sum(1) == 0
    w[none] = F.one_hot(top[none], w.shape[1]).float()
    return torch.multinomial(w, 1, generator=generator).squeeze(1)




@contextlib.contextmanager
def _frozen(module: nn.Module):
    """``module`` in eval mode without gradients for its parameters; both restored on exit."""
    was_training = module.training
    flags = [q.requires_grad for q in module.parameters()]
    module.eval()
    module.requires_grad_(False)
    try:
        yield module
    finally:
        for q, f in zip(module.parameters(), flags):
            q.requires_grad_(f)
        module.train(was_training)


# -- training ---------------------------------------------------------------------------------------
@dataclass
class LMACConfig:
    """Hyper-parameters of :func:`train_lmac` (SpeechBrain's optimiser, batch and loss weights).

    ``epochs=40``: about 5 minutes on esc10 with the cpu preset on an idle 2-core CPU (7-8 s per
    epoch over 240 training clips, validation included, bfloat16 autocast); the validation loss
    still falls slowly at epoch 40, Fid-In on validation has levelled off by epoch 5.
    """

    epochs: int = 40
    lr: float = 2e-4
    weight_decay: float = 2e-6
    batch_size: int = 16
    width: int = 64
    head_width: int = 16
    weights: LMACWeights = field(default_factory=LMACWeights)
    seed: int = 0
    device: str | None = None
    amp: bool = True  # bfloat16 autocast of the decoder and f where native (the log-mel stays float32)
    progress: bool = True

    def __post_init__(self):
        if isinstance(self.weights, dict):  # as read back from a sidecar's "config"
            self.weights = LMACWeights(**self.weights)
        if self.epochs < 1 or self.batch_size < 2 or self.lr <= 0 or self.weight_decay < 0:
            raise ParameterError("LMACConfig: epochs >= 1, batch_size >= 2, lr > 0 and weight_decay >= 0 are needed")


@dataclass
class LMACResult:
    """What :func:`train_lmac` returns; ``decoder`` holds the selected weights, in eval mode."""

    decoder: LMACDecoder
    history: list[dict]
    best_epoch: int
    best_score: float
    selection_metric: str  # SELECTION_METRIC
    seconds: float
    meta: dict = field(default_factory=dict)  # the sidecar written beside the checkpoint


def _masked_pair(classifier, fe, V, M, amp: bool, phase=None, length=None) -> tuple[torch.Tensor, torch.Tensor]:
    """f's logits of mask-in and mask-out: the two batches stacked, f run on them
    :data:`~l2i_core._utils.INFERENCE_BATCH_SIZE` rows at a time (f is frozen, in eval mode)."""
    ph = None if phase is None else torch.cat([phase, phase])
    logits = masked_logits(classifier, fe, torch.cat([V, V]), torch.cat([M, 1 - M]), phase=ph, length=length, amp=amp,
                           batch_size=INFERENCE_BATCH_SIZE)
    return logits[: len(V)], logits[len(V):]


def _kept(logits: torch.Tensor, target: torch.Tensor, multilabel: bool, th) -> np.ndarray:
    """Per clip: does f, on the masked input, still give the explained class (top class / decision)?"""
    if multilabel:
        d = classifier_decisions(logits.float().cpu().numpy(), th)
        return d[np.arange(len(target)), target.cpu().numpy()].astype(bool)
    return (logits.argmax(1).cpu() == target.cpu()).numpy()


@torch.no_grad()
def _validate(decoder, classifier, fe, cache, targets, *, multilabel, f_thresholds, weights, amp, dev,
              batch_size: int, gather=None) -> tuple[float, dict]:
    was = decoder.training
    decoder.eval()
    names: list[str] = []

    def rows(idx: torch.Tensor) -> torch.Tensor:
        """Per clip: its batch's loss terms, and whether f keeps the class on mask-in / mask-out."""
        maps, _, V = cache.batch(idx, device=dev)
        ph = cache.phase_batch(idx, device=dev)
        with autocast_context(dev, amp):
            M = decoder(maps, targets[idx])[:, 0]
        l_in, l_out = _masked_pair(classifier, fe, V, M, amp, ph, cache.length)
        loss, logs = lmac_loss(l_in, l_out, M, targets[idx].to(dev), multilabel=multilabel, weights=weights)
        terms = {"loss": loss.item(), **logs}
        names[:] = list(terms)
        per = torch.tensor([list(terms.values())], dtype=torch.float64).expand(len(idx), -1)
        kept = torch.from_numpy(np.stack([_kept(l_in, targets[idx], multilabel, f_thresholds),
                                          _kept(l_out, targets[idx], multilabel, f_thresholds)], 1)).double()
        return torch.cat([per, kept], 1)

    if gather is not None:  # under DDP: each rank its shard, every rank all rows
        out = gather(rows, len(cache), batch_size)
    else:
        out = torch.cat([rows(torch.arange(s, min(s + batch_size, len(cache))))
                         for s in batch_starts(len(cache), batch_size)])
    decoder.train(was)
    if not names:  # this rank had no clip: the names are the loss's, in order
        names[:] = ["loss", "in", "out", "l1", "tv"]
    cols = {f"val_{k}": float(out[:, i].mean()) for i, k in enumerate(names)}
    cols["val_mask_mean"] = cols.pop("val_l1")
    cols["val_fid_in"] = float(out[:, -2].mean())
    cols["val_out_keeps"] = float(out[:, -1].mean())
    return -cols["val_loss"], cols


def train_lmac(train_cache, val_cache, classifier: nn.Module, preset: str | Preset, *, multilabel: bool,
               f_thresholds=None, config: LMACConfig | None = None, out_dir: str | Path | None = None,
               resume: bool = False, meta: dict | None = None) -> LMACResult:
    """Train an L-MAC decoder for the frozen ``classifier`` on cached activations; select on validation.

    Each step reads ``(maps, f_logits, V)`` of a batch from ``train_cache``, decodes the masks, picks
    the explained class (:func:`lmac_targets`; the engine's generator draws the multi-label class),
    runs f on mask-in and mask-out (:func:`masked_logits`) and minimises :func:`lmac_loss`. f is put
    in eval mode with ``requires_grad=False`` for the run, and restored afterwards.

    Selection (:data:`SELECTION_METRIC`): the epoch of the lowest loss on ``val_cache``, as
    SpeechBrain's ``min_key="loss"``; the validation classes are drawn once (seed ``config.seed``).
    History columns: ``train_loss``, ``train_in``, ``train_out``, ``train_l1``, ``train_tv``,
    ``val_loss``, ``val_in``, ``val_out``, ``val_tv``, ``val_mask_mean`` (mean of M),
    ``val_fid_in`` (share of clips where f(mask-in) keeps the explained class: f's top class, or its
    decision for a multi-label class), ``val_out_keeps`` (the same for mask-out; lower is better).

    Parameters
    ----------
    train_cache, val_cache : ActivationCache
        Of ``classifier`` with the preset's front end (:func:`~l2i_core.train.cache.build_cache`).
    classifier : nn.Module
        f, on the preset's log-mel.
    preset : str or Preset
    multilabel : bool
        One mask per class and the binary loss; else one mask for f's top class.
    f_thresholds : sequence of float or None
        f's decision thresholds (multi-label); default 0.5.
    config : LMACConfig or None
    out_dir : path or None
        Receives ``lmac.pt`` + ``lmac.json`` (:func:`save_lmac`) and the resume state ``lmac_last.pt``.
    resume : bool
        Continue from ``out_dir/lmac_last.pt`` when it exists.
    meta : dict or None
        Extra sidecar entries (dataset, classes).

    Returns
    -------
    LMACResult
    """
    cfg = config or LMACConfig()
    p = get_preset(preset)
    dev = resolve_device(cfg.device)
    if len(train_cache) < 2 or len(val_cache) == 0:
        raise ParameterError("train_lmac needs at least 2 training clips and 1 validation clip")
    g = seeded_generator(rank_seed(cfg.seed))  # the run seed on rank 0 (and in one process)
    n_freq, n_frames = int(train_cache.V.shape[1]), int(train_cache.V.shape[2])
    n_masks = int(train_cache.logits.shape[1]) if multilabel else 1
    decoder = LMACDecoder(train_cache.tap_channels, n_freq, n_frames, n_masks=n_masks, width=cfg.width,
                          head_width=cfg.head_width, freq_positions=freq_positions(p)).to(dev)
    fe = FrontEnd(p).to(dev)
    opt = torch.optim.Adam(decoder.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    out_dir = Path(out_dir) if out_dir is not None else None
    engine = Engine(decoder, opt, g, epochs=cfg.epochs, batch_size=cfg.batch_size, device=dev,
                    last_path=out_dir / "lmac_last.pt" if out_dir else None, resume=resume, progress=cfg.progress,
                    desc="L-MAC", score_name="val_minus_loss", seed=cfg.seed)
    val_targets = lmac_targets(val_cache.logits, multilabel=multilabel, f_thresholds=f_thresholds,
                               generator=torch.Generator().manual_seed(cfg.seed))

    def train_step(idx: torch.Tensor, epoch: int):
        maps, f_logits, V = train_cache.batch(idx, device=dev)
        target = lmac_targets(f_logits, multilabel=multilabel, f_thresholds=f_thresholds, generator=g)
        with autocast_context(dev, cfg.amp):
            M = engine.train_module(maps, target)[:, 0]  # DDP under torchrun (f is frozen, never wrapped)
        l_in, l_out = _masked_pair(classifier, fe, V, M, cfg.amp, train_cache.phase_batch(idx, device=dev),
                                   train_cache.length)
        return lmac_loss(l_in, l_out, M, target.to(dev), multilabel=multilabel, weights=cfg.weights)

    def validate(module: nn.Module):
        return _validate(module, classifier, fe, val_cache, val_targets, multilabel=multilabel,
                         f_thresholds=f_thresholds, weights=cfg.weights, amp=cfg.amp, dev=dev,
                         batch_size=cfg.batch_size, gather=engine.gather)  # batched as in training: L1 may scale with it

    t0 = time.perf_counter()
    with _frozen(classifier.to(dev)):
        loop = engine.fit(len(train_cache), train_step, validate)
    side = {**(meta or {}), "method": "L-MAC", "preset": p.name, "multilabel": bool(multilabel),
            "config": dataclasses.asdict(cfg), "best_epoch": loop.best_epoch, "selection_metric": SELECTION_METRIC,
            "best_score": loop.best_score, "history": loop.history, "train_seconds": time.perf_counter() - t0,
            "f_thresholds": list(map(float, f_thresholds)) if f_thresholds is not None else None,
            "l2i_version": __version__, "world_size": loop.world_size, "global_batch_size": loop.global_batch_size,
            **decoder.config()}
    if out_dir is not None and engine.is_main:
        save_lmac(decoder, out_dir, meta=side)
    barrier()
    return LMACResult(decoder=decoder, history=loop.history, best_epoch=loop.best_epoch, best_score=loop.best_score,
                      selection_metric=SELECTION_METRIC, seconds=side["train_seconds"], meta=side)


# -- checkpoints ------------------------------------------------------------------------------------




# -- explaining -------------------------------------------------------------------------------------




