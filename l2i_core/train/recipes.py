"""Training recipes over :class:`~l2i_core.train.engine.Engine`: the classifier f, and the interpreter Ψ, Θ.

* Log-mel features of every clip are computed once (:func:`compute_features`) and kept in memory, or
  on disk and read a batch at a time when a split exceeds the run's budget.
* Adam with a warm-up + cosine learning-rate schedule, and an exponential moving average (EMA) of
  the weights: the EMA model is the one validated, selected and saved. Validation accuracy of a
  small dataset swings by many points between epochs; the schedule and the EMA make the selected
  epoch far less of a lottery.
* Light augmentation behind flags: mixup, SpecAugment masks, circular time shift, gain.
* The best epoch is chosen by the validation metric (accuracy, or macro AUPRC for multi-label);
  the test split is never looked at here.
* Multi-label decision thresholds are chosen per class on validation by F1, as the paper does;
  f's decisions are ``sigmoid(f) > threshold`` (strictly, as the official code compares).
* The interpreter is selected by :func:`selection_score` on validation (:data:`SELECTION_METRICS`
  names it): top-1 agreement with f, or macro average precision against f's decisions. The paper's
  fidelity is :func:`l2i_core.metrics.paper_fidelity`, reported on the test split.
* The loop itself (resume, EMA, best-on-validation, the resume state, tqdm, bfloat16 autocast) is
  :mod:`l2i_core.train.engine`; checkpoints are written and read by :mod:`l2i_core.models.checkpoints`.
* Every random draw comes from the seed: two CPU runs with the same seed give the same weights.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from l2i_core._errors import ParameterError
from l2i_core._memory import DiskRows, NpyRowWriter
from l2i_core._utils import INFERENCE_BATCH_SIZE, batch_starts, module_device, resolve_device
from l2i_core._version import __version__
from l2i_core.audio.frontend import FrontEnd
from l2i_core.config import Preset, get_preset
from l2i_core.metrics import classifier_decisions, topk_fidelity
from l2i_core.models.checkpoints import save_classifier, save_interpreter
from l2i_core.models.classifier import ARCHITECTURES, ArchConfig, AudioCNN
from l2i_core.models.interpreter import L2IInterpreter
from l2i_core.train.distributed import barrier, rank_seed
from l2i_core.train.engine import Engine, autocast_context, seeded_generator
from l2i_core.train.losses import LossWeights, l2i_loss, target_loss

__all__ = [
    "TrainConfig",
    "TrainResult",
    "default_train_config",
    "compute_features",
    "train_classifier",
    "evaluate_classifier",
    "predict_logits",
    "choose_thresholds",
    "InterpreterConfig",
    "InterpreterResult",
    "train_interpreter",
    "interpreter_outputs",
    "selection_score",
    "SELECTION_METRICS",
]


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train_classifier` (defaults: the cpu-preset recipe)."""

    epochs: int = 40
    lr: float = 1e-3
    batch_size: int = 32
    weight_decay: float = 0.0
    warmup_epochs: int = 2
    schedule: str = "cosine"  # "cosine" or "constant"
    ema_decay: float | None = 0.98  # per optimiser step; None disables the EMA
    mixup_alpha: float = 0.2  # 0 disables mixup
    spec_augment: bool = True
    time_shift: bool = True
    gain_db: float = 6.0  # random gain in [-gain_db, +gain_db] dB; 0 disables
    seed: int = 0
    device: str | None = None  # None: CUDA if available
    amp: bool = True  # bfloat16 autocast on CUDA and on CPUs with native bf16 (see autocast_context)
    arch: str | None = None  # a key of classifier.ARCHITECTURES; None: the preset's own
    progress: bool = True

    def __post_init__(self):
        if self.arch is not None and self.arch not in ARCHITECTURES:
            raise ParameterError(f"unknown arch {self.arch!r}; choose one of {sorted(ARCHITECTURES)} or None")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ParameterError("epochs and batch_size must be >= 1 and lr > 0")
        if self.schedule not in ("cosine", "constant"):
            raise ParameterError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ParameterError(f"ema_decay must be in (0, 1) or None, got {self.ema_decay}")


def default_train_config(multilabel: bool, preset: str | Preset | None = None, **overrides) -> TrainConfig:
    """The default recipe: 40 epochs with mixup (multi-class), 80 epochs without mixup (multi-label).

    The multi-label choice comes from a sweep on urbanmix scored on the *validation* split
    (``benchmarks/results/urbanmix_sweep.json``): mixup and 40 epochs under-fit the 10 s scenes.

    With the ``cpu`` preset, multi-label training uses the ``cpu-small`` architecture (half the
    widths, 0.3 M parameters), because 80 epochs on 10 s scenes with the full ``cpu`` network are
    too long for ``make reproduce`` on a 2-core CPU. Measured on urbanmix with bfloat16 autocast
    (``benchmarks/results/cpu_budget_sweep.json``): cpu-small, 80 epochs, 282 s, validation
    macro-AUPRC 0.858; cpu, 40 epochs at batch 16 (the same number of steps), 397 s, 0.842.
    """
    base = {"epochs": 80, "mixup_alpha": 0.0} if multilabel else {"epochs": 40, "mixup_alpha": 0.2}
    if multilabel and preset is not None and get_preset(preset).name == "cpu":
        base["arch"] = "cpu-small"
    base.update(overrides)
    return TrainConfig(**base)


@dataclass
class TrainResult:
    """What :func:`train_classifier` returns."""

    model: AudioCNN
    history: list[dict]
    best_epoch: int
    best_metric: float
    metric_name: str
    thresholds: list[float] | None
    seconds: float
    meta: dict = field(default_factory=dict)

    def sidecar(self) -> dict:
        """The ``classifier.json`` written beside the weights: ``meta`` and what training selected."""
        return {**self.meta, "best_epoch": self.best_epoch, "best_validation_metric": self.best_metric,
                "metric": self.metric_name, "thresholds": self.thresholds, "history": self.history,
                "train_seconds": self.seconds}


@torch.no_grad()
def compute_features(dataset, preset: str | Preset = "cpu", *, batch_size: int = 32, device: str | None = None,
                     progress: bool = True, path: str | Path | None = None):
    """Log-mel features of every clip of ``dataset``: ``(n_clips, n_mels, n_frames)`` float32 on the CPU.

    With ``path`` (a ``.npy`` file) they are written there batch by batch and returned as
    :class:`~l2i_core._memory.DiskRows`, which training indexes like a tensor and reads a batch of rows
    at a time: what a split larger than memory needs (:func:`l2i_core.pipeline.steps.feature_splits`).
    """
    p = get_preset(preset)
    dev = resolve_device(device)
    fe = FrontEnd(p).to(dev)
    out, writer = [], None
    for s in batch_starts(len(dataset), batch_size, progress=progress, desc=f"log-mel {dataset.name}"):
        x = torch.from_numpy(dataset.load_batch(range(s, min(s + batch_size, len(dataset))), p)).to(dev)
        m = fe.logmel(x).cpu()
        if path is None:
            out.append(m)
            continue
        if writer is None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            writer = NpyRowWriter(path, (len(dataset), *m.shape[1:]))
        writer[s : s + len(m)] = m
    if writer is not None:
        writer.close()
        return DiskRows(path)
    return torch.cat(out) if out else torch.zeros(0, p.n_mels, p.n_frames(dataset.duration))


def label_tensor(dataset) -> torch.Tensor:
    """The labels of ``dataset`` as a tensor: the label matrix (multi-label) or class indices (multi-class)."""
    return torch.from_numpy(dataset.label_matrix() if dataset.multilabel else dataset.targets())


def soft_targets(y: torch.Tensor, multilabel: bool, n_classes: int) -> torch.Tensor:
    """Targets as probabilities: the label matrix (multi-label) or one-hot rows (multi-class)."""
    return y.float() if multilabel else F.one_hot(y, n_classes).float()


def _augment(x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, g: torch.Generator, multilabel: bool, n_classes: int):
    """Augment a batch on the CPU with generator ``g``; returns (x, soft targets)."""
    B, M, T = x.shape
    x = x.clone()
    if cfg.gain_db > 0:
        x += (torch.rand(B, 1, 1, generator=g) * 2 - 1) * cfg.gain_db
    if cfg.time_shift:
        shifts = torch.randint(0, T, (B,), generator=g)
        x = torch.stack([torch.roll(x[b], int(shifts[b]), dims=-1) for b in range(B)])
    if cfg.spec_augment:
        floor = x.amin(dim=(1, 2), keepdim=True)
        for _ in range(2):
            w = torch.randint(0, max(1, T // 10), (B,), generator=g)
            t0 = (torch.rand(B, generator=g) * (T - w)).long()
            f = torch.randint(0, max(1, M // 8), (B,), generator=g)
            f0 = (torch.rand(B, generator=g) * (M - f)).long()
            tt, mm = torch.arange(T), torch.arange(M)
            tmask = (tt[None] >= t0[:, None]) & (tt[None] < (t0 + w)[:, None])  # (B, T)
            fmask = (mm[None] >= f0[:, None]) & (mm[None] < (f0 + f)[:, None])  # (B, M)
            mask = tmask[:, None, :] | fmask[:, :, None]
            x = torch.where(mask, floor, x)
    soft = soft_targets(y, multilabel, n_classes)
    if cfg.mixup_alpha > 0:
        x, soft = mixup(x, soft, cfg.mixup_alpha, g)
    return x, soft


def mixup(x: torch.Tensor, soft: torch.Tensor, alpha: float, g: torch.Generator):
    """Mixup of a batch with a permutation of itself, λ ~ Beta(α, α), both drawn from generator ``g``."""
    lam = float(np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=g))).beta(alpha, alpha))
    perm = torch.randperm(len(x), generator=g)
    return lam * x + (1 - lam) * x[perm], lam * soft + (1 - lam) * soft[perm]



@torch.no_grad()
def predict_logits(model: nn.Module, features: torch.Tensor, *, batch_size: int = INFERENCE_BATCH_SIZE,
                   device: str | torch.device | None = None) -> torch.Tensor:
    """Logits of ``model`` for cached features, in eval mode, on the CPU."""
    dev = module_device(model, device)
    was_training = model.training
    model.eval()
    out = [model(features[s : s + batch_size].to(dev)).float().cpu() for s in batch_starts(len(features), batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, getattr(model, "n_classes", 0))


def choose_thresholds(probs: np.ndarray, labels: np.ndarray, grid: np.ndarray | None = None) -> list[float]:
    """Per-class decision threshold maximising F1 on validation (0.5 for a class with no positive).

    A clip is predicted positive when its probability is strictly above the threshold, as
    :func:`l2i_core.metrics.classifier_decisions` decides.
    """
    from sklearn.metrics import f1_score

    grid = np.linspace(0.05, 0.95, 19) if grid is None else grid
    out = []
    for c in range(labels.shape[1]):
        if labels[:, c].sum() == 0:
            out.append(0.5)
            continue
        f1 = [f1_score(labels[:, c], probs[:, c] > t, zero_division=0) for t in grid]
        out.append(float(grid[int(np.argmax(f1))]))
    return out


def evaluate_classifier(logits: torch.Tensor | np.ndarray, labels: np.ndarray, *, multilabel: bool,
                        classes: list[str], thresholds: list[float] | None = None) -> dict:
    """Scores of logits against labels.

    Multi-class: accuracy, confusion matrix (rows: true class, columns: predicted), per-class recall.
    Multi-label: macro and micro AUPRC (scikit-learn average precision) over the classes that have
    at least one positive (the others are listed in ``excluded_classes``), and micro F1 of the
    decisions ``sigmoid(logits) > thresholds`` (:func:`l2i_core.metrics.classifier_decisions`).
    """
    from sklearn.metrics import accuracy_score, average_precision_score, confusion_matrix, f1_score

    logits = torch.as_tensor(logits).float()
    labels = np.asarray(labels)
    if not multilabel:
        pred = logits.argmax(dim=1).numpy()
        cm = confusion_matrix(labels, pred, labels=list(range(len(classes))))
        return {
            "n_clips": int(len(labels)),
            "accuracy": float(accuracy_score(labels, pred)),
            "confusion_matrix": cm.tolist(),
            "per_class_recall": {c: float(cm[i, i] / cm[i].sum()) if cm[i].sum() else None for i, c in enumerate(classes)},
            "classes": list(classes),
        }
    probs = torch.sigmoid(logits).numpy()
    has_pos = labels.sum(axis=0) > 0
    kept = [c for c, k in zip(classes, has_pos) if k]
    out = {
        "n_clips": int(len(labels)),
        "classes": list(classes),
        "evaluated_classes": kept,
        "excluded_classes": [c for c, k in zip(classes, has_pos) if not k],
        "macro_auprc": float(average_precision_score(labels[:, has_pos], probs[:, has_pos], average="macro")),
        "micro_auprc": float(average_precision_score(labels[:, has_pos], probs[:, has_pos], average="micro")),
        "per_class_auprc": {c: float(average_precision_score(labels[:, i], probs[:, i])) for i, c in enumerate(classes)
                            if has_pos[i]},
    }
    if thresholds is not None:
        decisions = classifier_decisions(logits.numpy(), thresholds).astype(bool)
        out["micro_f1"] = float(f1_score(labels[:, has_pos], decisions[:, has_pos], average="micro", zero_division=0))
        out["thresholds"] = list(map(float, thresholds))
    return out


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """The learning-rate multiplier at optimiser step ``step`` of ``total``: linear warm-up, then ``schedule``."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))



def train_classifier(dataset, preset: str | Preset = "cpu", config: TrainConfig | None = None, *,
                     out_dir: str | Path | None = None, resume: bool = False, features: dict | None = None,
                     arch: ArchConfig | None = None) -> TrainResult:
    """Train an :class:`~l2i_core.models.classifier.AudioCNN` on the train split, selecting on validation.

    Parameters
    ----------
    dataset : AudioDataset
    preset : str or Preset
    config : TrainConfig
    out_dir : path or None
        Where ``classifier.pt`` (best EMA weights), ``classifier.json`` (preset, classes,
        architecture, thresholds, history) and ``classifier_last.pt`` (resume state) are written.
    resume : bool
        Continue from ``out_dir/classifier_last.pt`` if it exists.
    features : dict or None
        Precomputed ``{"train": tensor, "validation": tensor}`` from :func:`compute_features`.

    Returns
    -------
    TrainResult
        ``model`` holds the selected (best-validation) weights, in eval mode.
    """
    cfg = config or TrainConfig()
    p = get_preset(preset)
    dev = resolve_device(cfg.device)
    train_ds, val_ds = dataset.split("train"), dataset.split("validation")
    if len(train_ds) == 0 or len(val_ds) == 0:
        raise ParameterError(f"{dataset.name}: needs non-empty train and validation splits to train and select")
    g = seeded_generator(rank_seed(cfg.seed))  # rank 0 (and one process): the run seed
    feats = features or {}
    x_train, x_val = feats.get("train"), feats.get("validation")
    if x_train is None:
        x_train = compute_features(train_ds, p, device=cfg.device, progress=cfg.progress)
    if x_val is None:
        x_val = compute_features(val_ds, p, device=cfg.device, progress=cfg.progress)
    y_train, y_val = label_tensor(train_ds), label_tensor(val_ds)
    C, ml = len(dataset.classes), dataset.multilabel
    if arch is None and cfg.arch is not None:
        arch = ARCHITECTURES[cfg.arch]
    model = AudioCNN(C, p, multilabel=ml, arch=arch).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train_ds) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, total, cfg.warmup_epochs * steps_per_epoch, cfg.schedule))
    metric_name = "macro_auprc" if ml else "accuracy"
    out_dir = Path(out_dir) if out_dir is not None else None
    engine = Engine(model, opt, g, epochs=cfg.epochs, batch_size=cfg.batch_size, scheduler=sched,
                    ema_decay=cfg.ema_decay, device=dev, last_path=out_dir / "classifier_last.pt" if out_dir else None,
                    resume=resume, progress=cfg.progress, desc=f"training on {dataset.name}",
                    score_name=f"val_{metric_name}", seed=cfg.seed)

    def train_step(idx: torch.Tensor, epoch: int):
        xb, yb = _augment(x_train[idx], y_train[idx], cfg, g, ml, C)
        xb, yb = xb.to(dev), yb.to(dev)
        with autocast_context(dev, cfg.amp):
            logits = engine.train_module(xb)  # DDP under torchrun
        return target_loss(logits.float(), yb, multilabel=ml), {}

    def validate(scored: nn.Module):
        val_logits = engine.gather(lambda idx: predict_logits(scored, x_val[idx], device=dev), len(x_val))
        scores = evaluate_classifier(val_logits, y_val.numpy(), multilabel=ml, classes=dataset.classes)
        value = scores[metric_name]
        val_loss = float(target_loss(val_logits, soft_targets(y_val, ml, C), multilabel=ml))
        return value, {"val_loss": val_loss, f"val_{metric_name}": value, "lr": float(sched.get_last_lr()[0])}

    t0 = time.perf_counter()
    loop = engine.fit(len(train_ds), train_step, validate)
    thresholds = None
    if ml:
        thresholds = choose_thresholds(torch.sigmoid(predict_logits(model, x_val)).numpy(), y_val.numpy())
    result = TrainResult(
        model=model, history=loop.history, best_epoch=loop.best_epoch, best_metric=loop.best_score,
        metric_name=metric_name, thresholds=thresholds, seconds=time.perf_counter() - t0,
        meta={"dataset": dataset.name, "protocol": dataset.protocol, "preset": p.name, "classes": dataset.classes,
              "duration": dataset.duration,
              "multilabel": ml, "arch": dataclasses.asdict(model.arch), "config": dataclasses.asdict(cfg),
              "device": str(dev), "n_train": len(train_ds), "n_validation": len(val_ds),
              "l2i_version": __version__},
    )
    result.meta.update(world_size=loop.world_size, global_batch_size=loop.global_batch_size)
    if out_dir is not None and engine.is_main:
        save_classifier(result.model, out_dir, meta=result.sidecar())
    barrier()  # the other ranks wait until rank 0 has written the checkpoint
    return result


# -- the interpreter --------------------------------------------------------------------------------
@dataclass
class InterpreterConfig:
    """Hyper-parameters of :func:`train_interpreter` (defaults: the official ESC recipe)."""

    pooling: str = "attention"  # or "max"
    epochs: int = 35
    lr: float | None = None  # None: 2e-4 multi-class, 5e-4 multi-label
    batch_size: int = 32
    dropout: float = 0.4
    weights: LossWeights = field(default_factory=LossWeights)  # alpha, beta, fidelity schedule, nmf_target
    seed: int = 0
    device: str | None = None
    amp: bool = True  # bfloat16 autocast of Ψ and Θ where native (losses and W H stay float32)
    progress: bool = True

    def __post_init__(self):
        if isinstance(self.weights, dict):  # as read back from a sidecar's "config"
            self.weights = LossWeights(**self.weights)


@dataclass
class InterpreterResult:
    """What :func:`train_interpreter` returns; ``interpreter`` holds the selected weights, in eval mode."""

    interpreter: L2IInterpreter
    history: list[dict]
    best_epoch: int
    selection_metric: str  # a value of SELECTION_METRICS
    best_selection_score: float
    seconds: float
    lr: float
    meta: dict = field(default_factory=dict)  # the sidecar written beside the checkpoint


#: What :func:`selection_score` computes, by ``multilabel``; recorded as ``selection_metric``.
SELECTION_METRICS = {False: "top-1 agreement with f", True: "macro average precision vs f's decisions"}


@torch.no_grad()
def interpreter_outputs(interpreter: nn.Module, cache, *, batch_size: int = INFERENCE_BATCH_SIZE, device=None, gather=None) -> dict:
    """Θ logits, pooled z and the relative reconstruction error ‖WH − V‖/‖V‖ on a cache (eval mode).

    ``gather``: :meth:`Engine.gather <l2i_core.train.engine.Engine.gather>` under DDP (each rank computes
    its shard; every rank gets all rows), else every clip here.
    """
    dev = module_device(interpreter, device)
    was = interpreter.training
    interpreter.eval()

    def rows(idx: torch.Tensor) -> torch.Tensor:
        maps, _, V = cache.batch(idx, device=dev)
        lg, H = interpreter(maps)
        err = ((interpreter.reconstruct(H) - V) ** 2).flatten(1).sum(1, keepdim=True)
        return torch.cat([lg.float(), interpreter.pooled(H).float(), err.float(),
                          (V**2).flatten(1).sum(1, keepdim=True).float()], 1).cpu()

    if gather is not None:
        out = gather(rows, len(cache), batch_size)
    else:
        out = torch.cat([rows(torch.arange(s, min(s + batch_size, len(cache)))) for s in batch_starts(len(cache), batch_size)])
    interpreter.train(was)
    C = int(cache.logits.shape[1])
    num, den = float(out[:, -2].double().sum()), float(out[:, -1].double().sum())
    return {"logits": out[:, :C], "z": out[:, C:-2], "relative_error": (num / max(den, 1e-12)) ** 0.5}


def selection_score(theta_logits: torch.Tensor, f_logits: torch.Tensor, *, multilabel: bool,
                    f_thresholds=None) -> float:
    """The interpreter's checkpoint-selection score on validation (:data:`SELECTION_METRICS`).

    Multi-class: top-1 agreement of Θ with f (:func:`l2i_core.metrics.topk_fidelity`, k = 1).
    Multi-label: scikit-learn macro average precision of sigmoid(Θ) against f's decisions
    (:func:`l2i_core.metrics.classifier_decisions` with ``f_thresholds``), over the classes f
    predicts at least once; NaN when f predicts none. This is not the paper's fidelity
    (:func:`l2i_core.metrics.paper_fidelity`), which notebooks 03 and 04 report on test.
    """
    if not multilabel:
        return float(topk_fidelity(theta_logits, f_logits, k=1)[1])
    from sklearn.metrics import average_precision_score

    decisions = classifier_decisions(f_logits, f_thresholds)
    keep = decisions.sum(0) > 0
    if not keep.any():
        return float("nan")
    return float(average_precision_score(decisions[:, keep], torch.sigmoid(theta_logits).numpy()[:, keep],
                                         average="macro"))


def train_interpreter(train_cache, val_cache, W, *, n_classes: int, multilabel: bool,
                      config: InterpreterConfig | None = None, f_thresholds=None, out_dir: str | Path | None = None,
                      resume: bool = False, meta: dict | None = None) -> InterpreterResult:
    """Train Ψ and Θ on cached activations of the frozen classifier; select by :func:`selection_score`.

    Parameters
    ----------
    train_cache, val_cache : ActivationCache
    W : np.ndarray [shape=(n_freq, K)]
        The fixed dictionary.
    n_classes : int
    multilabel : bool
    config : InterpreterConfig or None
    f_thresholds : sequence of float or None
        f's per-class decision thresholds (multi-label); default 0.5.
    out_dir : path or None
        Receives ``interpreter_<pooling>.pt`` (state dict, W included), its ``.json`` sidecar
        (``meta``, configuration, head, history, ``selection_metric``, ``best_selection_score``) and
        ``interpreter_<pooling>_last.pt`` (resume state).
    resume : bool
        Continue from ``interpreter_<pooling>_last.pt`` if it exists.
    meta : dict or None
        Extra sidecar entries (dataset, preset, classes).

    Returns
    -------
    InterpreterResult
    """
    cfg = config or InterpreterConfig()
    lr = cfg.lr if cfg.lr is not None else (5e-4 if multilabel else 2e-4)
    dev = resolve_device(cfg.device)
    g = seeded_generator(rank_seed(cfg.seed))
    model = L2IInterpreter(W, train_cache.tap_channels, n_classes, train_cache.n_frames, pooling=cfg.pooling,
                           dropout=cfg.dropout).to(dev)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    weights = cfg.weights
    if weights.nmf_target > 0 and train_cache.H_nmf is None:
        raise ParameterError("nmf_target > 0: call train_cache.add_nmf_activations(dictionary) first")
    out_dir = Path(out_dir) if out_dir is not None else None
    engine = Engine(model, opt, g, epochs=cfg.epochs, batch_size=cfg.batch_size, device=dev,
                    last_path=out_dir / f"interpreter_{cfg.pooling}_last.pt" if out_dir else None, resume=resume,
                    progress=cfg.progress, desc=f"interpreter ({cfg.pooling})", score_name="val_selection_score",
                    seed=cfg.seed)

    def train_step(idx: torch.Tensor, epoch: int):
        maps, f_logits, V = train_cache.batch(idx, device=dev)
        with autocast_context(dev, cfg.amp):
            theta_logits, H = engine.train_module(maps)  # DDP under torchrun
        theta_logits, H = theta_logits.float(), H.float()
        H_nmf = train_cache.H_nmf[idx].to(dev) if weights.nmf_target > 0 else None
        return l2i_loss(theta_logits, f_logits, H, model.reconstruct(H), V, multilabel=multilabel, weights=weights,
                        epoch=epoch, H_nmf=H_nmf)

    def validate(module: nn.Module):
        out = interpreter_outputs(module, val_cache, device=dev, gather=engine.gather)
        score = selection_score(out["logits"], val_cache.logits, multilabel=multilabel, f_thresholds=f_thresholds)
        return score, {"val_selection_score": score, "val_relative_error": out["relative_error"]}

    loop = engine.fit(len(train_cache), train_step, validate)
    side = {**(meta or {}), "multilabel": multilabel, "config": dataclasses.asdict(cfg), "lr": lr,
            "best_epoch": loop.best_epoch, "selection_metric": SELECTION_METRICS[bool(multilabel)],
            "best_selection_score": loop.best_score, "history": loop.history,
            "f_thresholds": list(f_thresholds) if f_thresholds is not None else None, "l2i_version": __version__,
            "world_size": loop.world_size, "global_batch_size": loop.global_batch_size}
    if out_dir is not None and engine.is_main:
        save_interpreter(model, out_dir, meta=side)
    barrier()
    return InterpreterResult(interpreter=model, history=loop.history, best_epoch=loop.best_epoch,
                             selection_metric=side["selection_metric"], best_selection_score=loop.best_score,
                             seconds=loop.seconds, lr=lr, meta={**side, **model.config()})
