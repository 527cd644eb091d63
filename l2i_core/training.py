"""Training the classifier f from scratch, with model selection on the validation split only.

* Log-mel features of every clip are computed once (:func:`compute_features`) and kept in memory.
* Adam with a warm-up + cosine learning-rate schedule, and an exponential moving average (EMA) of
  the weights: the EMA model is the one validated, selected and saved. Validation accuracy of a
  small dataset swings by many points between epochs; the schedule and the EMA make the selected
  epoch far less of a lottery.
* Light augmentation behind flags: mixup, SpecAugment masks, circular time shift, gain.
* The best epoch is chosen by the validation metric (accuracy, or macro AUPRC for multi-label);
  the test split is never looked at here.
* Multi-label decision thresholds are chosen per class on validation by F1, as the paper does.
* Checkpoints are state dicts (``torch.save``) loaded with ``weights_only=True``; the preset,
  class names, architecture and thresholds sit beside them in a JSON file.
* Every random draw comes from the seed: two CPU runs with the same seed give the same weights.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._errors import ParameterError
from ._version import __version__
from .audio import FrontEnd
from .classifier import ARCHITECTURES, ArchConfig, AudioCNN
from .config import Preset, get_preset

__all__ = [
    "TrainConfig",
    "TrainResult",
    "default_train_config",
    "compute_features",
    "train_classifier",
    "evaluate_classifier",
    "predict_logits",
    "choose_thresholds",
    "save_classifier",
    "load_classifier",
    "InterpreterConfig",
    "train_interpreter",
    "load_interpreter",
    "interpreter_outputs",
    "fidelity_score",
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
    widths, 0.3 M parameters): 80 epochs on 10 s scenes with the full ``cpu`` network take about
    14 min on a 2-core CPU, too long for ``make reproduce``. Measured on urbanmix with bfloat16
    autocast (``benchmarks/results/cpu_budget_sweep.json``): cpu-small, 80 epochs, 282 s,
    validation macro-AUPRC 0.858; cpu, 40 epochs at batch 16 (the same number of steps), 397 s,
    0.842; cpu, 80 epochs (float32, the earlier default) 0.898 in about 26 min.
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


class EMA:
    """Exponential moving average of a model's weights, with the usual warm-up of the decay.

    After optimiser step n the average moves with decay ``min(decay, (1 + n) / (10 + n))``, so that
    early on it follows the model instead of remembering the random initialisation. Batch-norm
    statistics are averaged like the weights.
    """

    def __init__(self, model: nn.Module, decay: float):
        import copy

        self.module = copy.deepcopy(model).eval()
        for q in self.module.parameters():
            q.requires_grad_(False)
        self.decay = float(decay)
        self.n_updates = 0

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        d = min(self.decay, (1 + self.n_updates) / (10 + self.n_updates))
        for e, m in zip(self.module.state_dict().values(), model.state_dict().values()):
            if e.dtype.is_floating_point:
                e.mul_(d).add_(m.detach(), alpha=1 - d)
            else:
                e.copy_(m)
        self.n_updates += 1

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "n_updates": torch.tensor(self.n_updates)}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.n_updates = int(state["n_updates"])


def _device(name: str | None) -> torch.device:
    return torch.device(name if name else ("cuda" if torch.cuda.is_available() else "cpu"))


def native_bf16(device: str | torch.device) -> bool:
    """Whether ``device`` computes bfloat16 convolutions natively: any CUDA GPU, or a CPU that
    oneDNN reports as bf16-capable (AVX512-BF16 or AMX). Elsewhere bf16 is emulated and slower."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return True
    if dev.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # older or unusual builds: stay in float32
        return False


def autocast_context(device: str | torch.device, enabled: bool = True):
    """bfloat16 mixed precision for the forward pass where the hardware has it, else a no-op.

    Weights, optimiser state, losses and everything saved stay float32; only the convolutions
    and matrix products of the forward (and so of the backward) run in bfloat16. On a 2-core
    AVX512-BF16 CPU this halves the classifier's training time; the selected checkpoint is still
    chosen and scored in float32 (:func:`predict_logits` runs without autocast).
    """
    dev = torch.device(device)
    return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bool(enabled) and native_bf16(dev))


@torch.no_grad()
def compute_features(dataset, preset: str | Preset = "cpu", *, batch_size: int = 32, device: str | None = None,
                     progress: bool = True) -> torch.Tensor:
    """Log-mel features of every clip of ``dataset``: ``(n_clips, n_mels, n_frames)`` float32 on the CPU."""
    p = get_preset(preset)
    dev = _device(device)
    fe = FrontEnd(p).to(dev)
    out = []
    starts = range(0, len(dataset), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=f"log-mel {dataset.name}", unit="batch", leave=False)
    for s in starts:
        x = torch.from_numpy(dataset.load_batch(range(s, min(s + batch_size, len(dataset))), p)).to(dev)
        out.append(fe.logmel(x).cpu())
    return torch.cat(out) if out else torch.zeros(0, p.n_mels, p.n_frames(dataset.duration))


def _targets(dataset) -> torch.Tensor:
    return torch.from_numpy(dataset.label_matrix() if dataset.multilabel else dataset.targets())


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
    soft = y.float() if multilabel else F.one_hot(y, n_classes).float()
    if cfg.mixup_alpha > 0:
        lam = float(np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=g))).beta(
            cfg.mixup_alpha, cfg.mixup_alpha))
        perm = torch.randperm(B, generator=g)
        x = lam * x + (1 - lam) * x[perm]
        soft = lam * soft + (1 - lam) * soft[perm]
    return x, soft


def _loss(logits: torch.Tensor, soft: torch.Tensor, multilabel: bool) -> torch.Tensor:
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, soft)
    return -(soft * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


@torch.no_grad()
def predict_logits(model: nn.Module, features: torch.Tensor, *, batch_size: int = 64,
                   device: str | torch.device | None = None) -> torch.Tensor:
    """Logits of ``model`` for cached features, in eval mode, on the CPU."""
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = [model(features[s : s + batch_size].to(dev)).float().cpu() for s in range(0, len(features), batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, getattr(model, "n_classes", 0))


def choose_thresholds(probs: np.ndarray, labels: np.ndarray, grid: np.ndarray | None = None) -> list[float]:
    """Per-class decision threshold maximising F1 on validation (0.5 for a class with no positive)."""
    from sklearn.metrics import f1_score

    grid = np.linspace(0.05, 0.95, 19) if grid is None else grid
    out = []
    for c in range(labels.shape[1]):
        if labels[:, c].sum() == 0:
            out.append(0.5)
            continue
        f1 = [f1_score(labels[:, c], probs[:, c] >= t, zero_division=0) for t in grid]
        out.append(float(grid[int(np.argmax(f1))]))
    return out


def evaluate_classifier(logits: torch.Tensor | np.ndarray, labels: np.ndarray, *, multilabel: bool,
                        classes: list[str], thresholds: list[float] | None = None) -> dict:
    """Scores of logits against labels.

    Multi-class: accuracy, confusion matrix (rows: true class, columns: predicted), per-class recall.
    Multi-label: macro and micro AUPRC (scikit-learn average precision) over the classes that have
    at least one positive (the others are listed in ``excluded_classes``), and micro F1 at the
    thresholds.
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
        decisions = probs >= np.asarray(thresholds)[None]
        out["micro_f1"] = float(f1_score(labels[:, has_pos], decisions[:, has_pos], average="micro", zero_division=0))
        out["thresholds"] = list(map(float, thresholds))
    return out


def _metric(scores: dict, multilabel: bool) -> tuple[str, float]:
    return ("macro_auprc", scores["macro_auprc"]) if multilabel else ("accuracy", scores["accuracy"])


def _lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def train_classifier(dataset, preset: str | Preset = "cpu", config: TrainConfig | None = None, *,
                     out_dir: str | Path | None = None, resume: bool = False, features: dict | None = None,
                     arch: ArchConfig | None = None) -> TrainResult:
    """Train an :class:`~l2i_core.classifier.AudioCNN` on the train split, selecting on validation.

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
    dev = _device(cfg.device)
    train_ds, val_ds = dataset.split("train"), dataset.split("validation")
    if len(train_ds) == 0 or len(val_ds) == 0:
        raise ParameterError(f"{dataset.name}: needs non-empty train and validation splits to train and select")
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    feats = features or {}
    x_train = feats.get("train")
    x_val = feats.get("validation")
    if x_train is None:
        x_train = compute_features(train_ds, p, device=cfg.device, progress=cfg.progress)
    if x_val is None:
        x_val = compute_features(val_ds, p, device=cfg.device, progress=cfg.progress)
    y_train, y_val = _targets(train_ds), _targets(val_ds)
    C, ml = len(dataset.classes), dataset.multilabel

    if arch is None and cfg.arch is not None:
        arch = ARCHITECTURES[cfg.arch]
    model = AudioCNN(C, p, multilabel=ml, arch=arch).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train_ds) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: _lr_factor(s, total, cfg.warmup_epochs * steps_per_epoch, cfg.schedule))
    ema = EMA(model, cfg.ema_decay) if cfg.ema_decay is not None else None
    history: list[dict] = []
    best = {"metric": -math.inf, "epoch": -1, "state": None}
    start_epoch = 0
    out_dir = Path(out_dir) if out_dir is not None else None
    last_path = out_dir / "classifier_last.pt" if out_dir else None
    if resume and last_path is not None and last_path.is_file():
        state = torch.load(last_path, map_location=dev, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        if ema is not None and "ema" in state:
            ema.load_state_dict(state["ema"])
        history = [dict(h) for h in state["history"]]
        best = {"metric": float(state["best_metric"]), "epoch": int(state["best_epoch"]), "state": state["best_state"]}
        g.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch = int(state["epoch"]) + 1

    epochs = range(start_epoch, cfg.epochs)
    bar = None
    if cfg.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.epochs, initial=start_epoch, desc=f"training on {dataset.name}", unit="epoch")
    t0 = time.perf_counter()
    for epoch in epochs:
        model.train()
        order = torch.randperm(len(train_ds), generator=g)
        losses = []
        te = time.perf_counter()
        for s in range(0, len(order), cfg.batch_size):
            idx = order[s : s + cfg.batch_size]
            if len(idx) < 2:  # batch norm needs two examples
                continue
            xb, yb = _augment(x_train[idx], y_train[idx], cfg, g, ml, C)
            xb, yb = xb.to(dev), yb.to(dev)
            with autocast_context(dev, cfg.amp):
                logits = model(xb)
            loss = _loss(logits.float(), yb, ml)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                ema.update_parameters(model)
            losses.append(loss.item())
        scored = ema.module if ema is not None else model
        val_logits = predict_logits(scored, x_val, device=dev)
        val_scores = evaluate_classifier(val_logits, y_val.numpy(), multilabel=ml, classes=dataset.classes)
        name, value = _metric(val_scores, ml)
        val_loss = float(_loss(val_logits, y_val.float() if ml else F.one_hot(y_val, C).float(), ml))
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else float("nan"),
                        "val_loss": val_loss, f"val_{name}": value, "lr": float(sched.get_last_lr()[0]),
                        "seconds": time.perf_counter() - te})
        if value > best["metric"]:
            best = {"metric": value, "epoch": epoch,
                    "state": {k: v.detach().cpu().clone() for k, v in scored.state_dict().items()}}
        if last_path is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                        **({"ema": ema.state_dict()} if ema is not None else {}),
                        "history": history, "best_metric": best["metric"], "best_epoch": best["epoch"],
                        "best_state": best["state"], "generator": g.get_state(), "torch_rng": torch.get_rng_state(),
                        "epoch": epoch}, last_path)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{history[-1]['train_loss']:.3f}", **{f"val_{name}": f"{value:.3f}"})
    if bar is not None:
        bar.close()
    if best["state"] is None:
        raise ParameterError("no epoch was trained; raise epochs or check resume state")
    final = AudioCNN(C, p, multilabel=ml, arch=model.arch)
    final.load_state_dict(best["state"])
    final.to(dev).eval()
    thresholds = None
    if ml:
        probs = torch.sigmoid(predict_logits(final, x_val)).numpy()
        thresholds = choose_thresholds(probs, y_val.numpy())
    result = TrainResult(
        model=final, history=history, best_epoch=best["epoch"], best_metric=best["metric"],
        metric_name="macro_auprc" if ml else "accuracy", thresholds=thresholds,
        seconds=time.perf_counter() - t0,
        meta={"dataset": dataset.name, "protocol": dataset.protocol, "preset": p.name, "classes": dataset.classes,
              "multilabel": ml, "arch": dataclasses.asdict(final.arch), "config": dataclasses.asdict(cfg),
              "device": str(dev), "n_train": len(train_ds), "n_validation": len(val_ds),
              "l2i_version": __version__},
    )
    if out_dir is not None:
        save_classifier(result, out_dir)
    return result


def save_classifier(result: TrainResult, out_dir: str | Path) -> Path:
    """Write ``classifier.pt`` (state dict) and ``classifier.json`` (everything needed to rebuild it)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "classifier.pt"
    torch.save({k: v.detach().cpu() for k, v in result.model.state_dict().items()}, path)
    meta = dict(result.meta)
    meta.update(best_epoch=result.best_epoch, best_validation_metric=result.best_metric, metric=result.metric_name,
                thresholds=result.thresholds, history=result.history, train_seconds=result.seconds)
    (out_dir / "classifier.json").write_text(json.dumps(meta, indent=2) + "\n")
    return path


def load_classifier(path: str | Path, *, device: str | None = "cpu") -> tuple[AudioCNN, dict]:
    """Rebuild a classifier saved by :func:`save_classifier` (``weights_only=True``), in eval mode.

    Returns
    -------
    model : AudioCNN
    meta : dict
        Preset, classes, thresholds, history, ...
    """
    path = Path(path)
    if path.is_dir():
        path = path / "classifier.pt"
    side = path.with_suffix(".json")
    if not path.is_file() or not side.is_file():
        raise ParameterError(f"{path}: no classifier checkpoint (.pt + .json); train one with notebook 02")
    meta = json.loads(side.read_text())
    model = AudioCNN(len(meta["classes"]), meta["preset"], multilabel=meta["multilabel"],
                     arch=ArchConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["arch"].items()}))
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.to(device or "cpu").eval(), meta


# -- the interpreter --------------------------------------------------------------------------------
@dataclass
class InterpreterConfig:
    """Hyper-parameters of :func:`train_interpreter` (defaults: the official ESC recipe)."""

    pooling: str = "attention"  # or "max"
    epochs: int = 35
    lr: float | None = None  # None: 2e-4 multi-class, 5e-4 multi-label
    batch_size: int = 32
    dropout: float = 0.4
    reconstruction: float = 5.0  # alpha
    sparsity: float = 0.4  # beta
    fidelity: float = 0.5
    fidelity_late: float = 1.0
    switch_epoch: int = 20
    nmf_target: float = 0.0  # gamma of the optional MSE(H, H_nmf) term (not in the paper); needs cache.H_nmf
    seed: int = 0
    device: str | None = None
    amp: bool = True  # bfloat16 autocast of Ψ and Θ where native (losses and W H stay float32)
    progress: bool = True

    def weights(self):
        from .losses import LossWeights

        return LossWeights(reconstruction=self.reconstruction, sparsity=self.sparsity, fidelity=self.fidelity,
                           fidelity_late=self.fidelity_late, switch_epoch=self.switch_epoch,
                           nmf_target=self.nmf_target)


@torch.no_grad()
def interpreter_outputs(interpreter: nn.Module, cache, *, batch_size: int = 64, device=None) -> dict:
    """Θ logits, pooled z and the relative reconstruction error ‖WH − V‖/‖V‖ on a cache (eval mode)."""
    dev = torch.device(device) if device is not None else next(interpreter.parameters()).device
    was = interpreter.training
    interpreter.eval()
    logits, zs, num, den = [], [], 0.0, 0.0
    for s in range(0, len(cache), batch_size):
        maps, _, V = cache.batch(torch.arange(s, min(s + batch_size, len(cache))), device=dev)
        lg, H = interpreter(maps)
        logits.append(lg.float().cpu())
        zs.append(interpreter.pooled(H).float().cpu())
        num += float(((interpreter.reconstruct(H) - V) ** 2).sum())
        den += float((V**2).sum())
    interpreter.train(was)
    return {"logits": torch.cat(logits), "z": torch.cat(zs), "relative_error": (num / max(den, 1e-12)) ** 0.5}


def fidelity_score(theta_logits: torch.Tensor, f_logits: torch.Tensor, *, multilabel: bool,
                   f_thresholds=None) -> float:
    """Validation fidelity used for model selection: top-1 agreement with f (multi-class), or macro
    average precision of Θ's sigmoid against f's thresholded decisions over classes f predicts at least
    once (multi-label)."""
    if not multilabel:
        return float((theta_logits.argmax(1) == f_logits.argmax(1)).float().mean())
    from sklearn.metrics import average_precision_score

    th = torch.as_tensor(f_thresholds if f_thresholds is not None else [0.5] * f_logits.shape[1])
    decisions = (torch.sigmoid(f_logits) >= th).numpy()
    keep = decisions.sum(0) > 0
    if not keep.any():
        return float("nan")
    return float(average_precision_score(decisions[:, keep], torch.sigmoid(theta_logits).numpy()[:, keep],
                                         average="macro"))


def train_interpreter(train_cache, val_cache, W, *, n_classes: int, multilabel: bool,
                      config: InterpreterConfig | None = None, f_thresholds=None, out_dir: str | Path | None = None,
                      resume: bool = False, meta: dict | None = None):
    """Train Ψ and Θ on cached activations of the frozen classifier; select by validation fidelity.

    Returns
    -------
    dict
        ``{"interpreter", "history", "best_epoch", "best_fidelity", "seconds"}``; the interpreter holds
        the selected weights, in eval mode. ``out_dir`` receives ``interpreter_<pooling>.pt`` (state
        dict, W included) and ``.json`` (configuration, classes, preset, head type, history).
    """
    from .interpreter import L2IInterpreter
    from .losses import l2i_loss

    cfg = config or InterpreterConfig()
    lr = cfg.lr if cfg.lr is not None else (5e-4 if multilabel else 2e-4)
    dev = _device(cfg.device)
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    model = L2IInterpreter(W, train_cache.tap_channels, n_classes, train_cache.n_frames, pooling=cfg.pooling,
                           dropout=cfg.dropout).to(dev)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    weights = cfg.weights()
    if cfg.nmf_target > 0 and train_cache.H_nmf is None:
        raise ParameterError("nmf_target > 0: call train_cache.add_nmf_activations(dictionary) first")
    history: list[dict] = []
    best = {"fidelity": -math.inf, "epoch": -1, "state": None}
    start = 0
    name = f"interpreter_{cfg.pooling}"
    out_dir = Path(out_dir) if out_dir is not None else None
    last = out_dir / f"{name}_last.pt" if out_dir else None
    if resume and last is not None and last.is_file():
        st = torch.load(last, map_location=dev, weights_only=True)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        history = [dict(h) for h in st["history"]]
        best = {"fidelity": float(st["best_fidelity"]), "epoch": int(st["best_epoch"]), "state": st["best_state"]}
        g.set_state(st["generator"])
        torch.set_rng_state(st["torch_rng"])
        start = int(st["epoch"]) + 1
    bar = None
    if cfg.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.epochs, initial=start, desc=f"interpreter ({cfg.pooling})", unit="epoch")
    t0 = time.perf_counter()
    for epoch in range(start, cfg.epochs):
        model.train()
        order = torch.randperm(len(train_cache), generator=g)
        terms = {"loss": [], "fidelity": [], "reconstruction": [], "sparsity": []}
        if cfg.nmf_target > 0:
            terms["nmf_target"] = []
        te = time.perf_counter()
        for s in range(0, len(order), cfg.batch_size):
            idx = order[s : s + cfg.batch_size]
            if len(idx) < 2:
                continue
            maps, f_logits, V = train_cache.batch(idx, device=dev)
            with autocast_context(dev, cfg.amp):
                theta_logits, H = model(maps)
            theta_logits, H = theta_logits.float(), H.float()
            H_nmf = train_cache.H_nmf[idx].to(dev) if cfg.nmf_target > 0 else None
            loss, parts = l2i_loss(theta_logits, f_logits, H, model.reconstruct(H), V, multilabel=multilabel,
                                   weights=weights, epoch=epoch, H_nmf=H_nmf)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            terms["loss"].append(loss.item())
            for k, v in parts.items():
                terms[k].append(v)
        out = interpreter_outputs(model, val_cache, device=dev)
        fid = fidelity_score(out["logits"], val_cache.logits, multilabel=multilabel, f_thresholds=f_thresholds)
        history.append({"epoch": epoch, **{f"train_{k}": float(np.mean(v)) for k, v in terms.items()},
                        "val_fidelity": fid, "val_relative_error": out["relative_error"],
                        "seconds": time.perf_counter() - te})
        if fid > best["fidelity"]:
            best = {"fidelity": fid, "epoch": epoch,
                    "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
        if last is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "history": history,
                        "best_fidelity": best["fidelity"], "best_epoch": best["epoch"], "best_state": best["state"],
                        "generator": g.get_state(), "torch_rng": torch.get_rng_state(), "epoch": epoch}, last)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{history[-1]['train_loss']:.3f}", val_fidelity=f"{fid:.3f}")
    if bar is not None:
        bar.close()
    if best["state"] is None:
        raise ParameterError("no interpreter epoch was trained; raise epochs or check the resume state")
    model.load_state_dict(best["state"])
    model.eval()
    result = {"interpreter": model, "history": history, "best_epoch": best["epoch"],
              "best_fidelity": best["fidelity"], "seconds": time.perf_counter() - t0, "lr": lr}
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, out_dir / f"{name}.pt")
        side = {**(meta or {}), **model.config(), "multilabel": multilabel, "config": dataclasses.asdict(cfg),
                "lr": lr, "best_epoch": best["epoch"], "best_validation_fidelity": best["fidelity"],
                "history": history, "f_thresholds": list(f_thresholds) if f_thresholds is not None else None,
                "l2i_version": __version__}
        (out_dir / f"{name}.json").write_text(json.dumps(side, indent=2, default=float) + "\n")
    return result


def load_interpreter(path: str | Path, *, device: str | None = "cpu"):
    """Rebuild an interpreter saved by :func:`train_interpreter` (``weights_only=True``).

    Returns
    -------
    interpreter : L2IInterpreter
    meta : dict
    """
    from .interpreter import L2IInterpreter

    path = Path(path).with_suffix(".pt")
    side = path.with_suffix(".json")
    if not path.is_file() or not side.is_file():
        raise ParameterError(f"{path}: no interpreter checkpoint (.pt + .json); train one with notebook 03")
    meta = json.loads(side.read_text())
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = L2IInterpreter(state["decoder.W"].numpy(), meta["tap_channels"], meta["n_classes"], meta["n_frames"],
                           pooling=meta["pooling"], dropout=meta.get("dropout", 0.4))
    model.load_state_dict(state)
    return model.to(device or "cpu").eval(), meta
