"""Fine-tuning a pretrained backbone on the target data, selected on validation.

The backbone is the preset's (``preset.classifier``): EfficientAT mn04
(:class:`~l2i_core.models.efficientat.EfficientATClassifier`, preset ``efficientat``, 17 blocks, 384-d
pooled features) or aiSFX (:class:`~l2i_core.models.pretrained.AiSFXClassifier`, preset ``aisfx``, 4
blocks, 512-d). Three candidates, all modules of that class (so any of them can be interpreted), are
scored on the validation split; the best is the classifier f the pipeline interprets:

``probe``
    A linear probe: scikit-learn logistic regression on the standardised pooled embedding, its
    inverse regularisation C chosen on validation, folded into a linear head (the scaler's mean
    and scale become the layer's weights), so the probe *is* a network with taps.
``head``
    The backbone frozen; a small MLP head (embedding → 256 → classes, dropout) trained with mixup.
``last``
    The last blocks (``model.last_start`` onwards: EfficientAT's last stage, blocks 13–16; aiSFX's
    block 4) and a linear head trained together, the blocks below frozen (in eval mode), the head
    starting from the linear probe ("linear probing, then fine-tuning", LP-FT: Kumar et al., ICLR
    2022, who show that a random head distorts the pretrained features early on). Both learn at
    ``lr * backbone_lr_scale``.

The frozen bottom is computed once per clip (the blocks below ``last_start`` for ``last``, the pooled
embedding for ``head`` and ``probe``), so an epoch only runs what trains. Every candidate trains
through the one training loop (:class:`~l2i_core.train.engine.Engine`: resume, EMA,
best-on-validation, checkpoints, autocast).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from l2i_core._errors import ParameterError
from l2i_core._utils import batch_starts, resolve_device
from l2i_core._version import __version__
from l2i_core.config import Preset, get_preset
from l2i_core.models.checkpoints import save_classifier
from l2i_core.models.efficientat import EfficientATClassifier
from l2i_core.models.pretrained import AiSFXClassifier, BackboneClassifier
from l2i_core.train.distributed import barrier, is_main, rank_seed
from l2i_core.train.engine import Engine, autocast_context, seeded_generator
from l2i_core.train.losses import target_loss
from l2i_core.train.recipes import (
    TrainResult,
    choose_thresholds,
    compute_features,
    evaluate_classifier,
    label_tensor,
    lr_factor,
    mixup,
    predict_logits,
    soft_targets,
)

__all__ = ["FinetuneConfig", "CANDIDATES", "BACKBONES", "finetune_pretrained", "linear_probe", "bottom_features"]

CANDIDATES = ("probe", "head", "last")

BACKBONES = {"aisfx": AiSFXClassifier, "efficientat": EfficientATClassifier}
"""The pretrained classifier class of each ``preset.classifier`` that is fine-tuned rather than trained."""

Backbone = BackboneClassifier


@dataclass
class FinetuneConfig:
    """Hyper-parameters of :func:`finetune_pretrained`.

    ``epochs_head`` / ``epochs_last``: epochs of the head-only and head + last-blocks candidates; the
    head's learning rate is ``lr``, the last blocks' ``lr * backbone_lr_scale``. ``probe_C``: the grid the
    linear probe's C is chosen from on validation.
    """

    candidates: tuple[str, ...] = CANDIDATES
    epochs_head: int = 60
    epochs_last: int = 12
    lr: float = 1e-3
    backbone_lr_scale: float = 0.1
    batch_size: int = 32
    weight_decay: float = 1e-4
    warmup_epochs: int = 1
    ema_decay: float | None = 0.9
    mixup_alpha: float = 0.2
    time_shift: bool = True
    hidden: int = 256
    dropout: float = 0.3
    probe_C: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
    seed: int = 0
    device: str | None = None
    amp: bool = True
    progress: bool = True

    def __post_init__(self):
        bad = [c for c in self.candidates if c not in CANDIDATES]
        if bad or not self.candidates:
            raise ParameterError(f"candidates must be a non-empty subset of {CANDIDATES}, got {self.candidates}")
        if min(self.epochs_head, self.epochs_last, self.batch_size) < 1 or self.lr <= 0:
            raise ParameterError("epochs and batch_size must be >= 1 and lr > 0")


@torch.no_grad()
def bottom_features(model: Backbone, features: torch.Tensor, n_blocks: int, *, batch_size: int = 32,
                    device=None, amp: bool = True, progress: bool = False, desc: str = "") -> torch.Tensor:
    """The frozen part's output for cached features: blocks ``1..n_blocks`` (all of them: the pooled embedding)."""
    dev = resolve_device(device)
    model = model.to(dev).eval()
    out = []
    for s in batch_starts(len(features), batch_size, progress=progress, desc=desc or "frozen blocks"):
        with autocast_context(dev, amp):
            h = model.bottom(features[s : s + batch_size].to(dev), n_blocks)
        out.append((model.pool(h) if n_blocks == model.n_blocks else h).float().cpu())
    return torch.cat(out)


class _Top(nn.Module):
    """The trained part of a backbone classifier: blocks ``start..`` and the head (shared modules)."""

    def __init__(self, model: Backbone, start: int):
        super().__init__()
        self.start, self.pooled = start, start == model.n_blocks
        self.blocks = nn.ModuleList(list(model.blocks[start:]))
        self.head = model.head
        self.pool = model.pool

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.pooled:  # h is the pooled embedding
            return self.head(h)
        for b in self.blocks:
            h = b(h)
        return self.head(self.pool(h))


@torch.no_grad()
def _logits(module: nn.Module, h: torch.Tensor, dev, amp: bool, batch_size: int = 64) -> torch.Tensor:
    was = module.training
    module.eval()
    out = []
    for s in batch_starts(len(h), batch_size):
        with autocast_context(dev, amp):
            out.append(module(h[s : s + batch_size].to(dev)).float().cpu())
    module.train(was)
    return torch.cat(out)


def linear_probe(emb_train: torch.Tensor, y_train: torch.Tensor, emb_val: torch.Tensor, y_val: torch.Tensor, *,
                 n_classes: int, multilabel: bool, Cs=(0.01, 0.1, 1.0), seed: int = 0) -> tuple[nn.Linear, float, list]:
    """Logistic regression on standardised embeddings, C chosen on validation, as one ``nn.Linear``.

    Returns the layer (scaler folded in: ``W' = W / σ``, ``b' = b − W' μ``), its validation score
    (accuracy, or macro AUPRC for multi-label data) and the score of every C tried.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    Xtr = emb_train.double().numpy()
    mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0) + 1e-8
    Ztr = (Xtr - mu) / sd
    ytr, yva = y_train.numpy(), y_val.numpy()
    if not multilabel and len(np.unique(ytr)) < 2:
        raise ParameterError("the linear probe needs at least two classes in the train split")
    tried, best = [], None
    for C in Cs:
        lr = LogisticRegression(C=float(C), max_iter=2000, random_state=seed)
        clf = OneVsRestClassifier(lr) if multilabel else lr
        clf.fit(Ztr, ytr)
        # a class absent from train (tiny quick runs) gets zero weights and a logit of -30
        W, b = np.zeros((n_classes, Xtr.shape[1])), np.full(n_classes, -30.0)
        if multilabel:
            for c, e in enumerate(clf.estimators_):
                if hasattr(e, "coef_"):
                    W[c], b[c] = e.coef_[0], e.intercept_[0]
                else:  # a class that is always (or never) on in train: sklearn's constant predictor
                    b[c] = 30.0 if ytr[:, c].all() else -30.0
        elif len(clf.classes_) == 2:  # binary: one row, the logit of the second class
            W[clf.classes_[1]], b[clf.classes_[1]] = clf.coef_[0], clf.intercept_[0]
            b[clf.classes_[0]] = 0.0
        else:
            W[clf.classes_], b[clf.classes_] = clf.coef_, clf.intercept_
        layer = nn.Linear(Xtr.shape[1], n_classes)
        layer.weight.data = torch.from_numpy(W / sd).float()
        layer.bias.data = torch.from_numpy(b - (W / sd) @ mu).float()
        with torch.no_grad():
            logits = layer(emb_val.float())
        score = _score(logits, yva, multilabel, n_classes)
        tried.append({"C": float(C), "validation": score})
        if best is None or score > best[1]:
            best = (layer, score)
    return best[0], best[1], tried


def _score(logits: torch.Tensor, labels: np.ndarray, multilabel: bool, n_classes: int) -> float:
    s = evaluate_classifier(logits, labels, multilabel=multilabel, classes=[str(i) for i in range(n_classes)])
    return float(s["macro_auprc" if multilabel else "accuracy"])


def _train_top(model: Backbone, start: int, h_train, y_train, h_val, y_val, cfg: FinetuneConfig, *,
               epochs: int, multilabel: bool, out_path: Path | None, resume: bool, desc: str):
    """Train blocks ``start..`` and the head of ``model`` on precomputed inputs through the Engine."""
    dev = resolve_device(cfg.device)
    C = model.n_classes
    g = seeded_generator(rank_seed(cfg.seed + start))  # the run seed on rank 0 (and in one process)
    top = _Top(model, start).to(dev)
    small = cfg.lr * cfg.backbone_lr_scale
    groups = [{"params": list(model.head.parameters()), "lr": cfg.lr if top.pooled else small}]
    block_params = [q for b in top.blocks for q in b.parameters()] if not top.pooled else []
    if block_params:
        groups.append({"params": block_params, "lr": small})
    opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    steps = math.ceil(len(h_train) / cfg.batch_size)
    total = epochs * steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, cfg.warmup_epochs * steps, "cosine"))
    metric = "macro_auprc" if multilabel else "accuracy"
    engine = Engine(top, opt, g, epochs=epochs, batch_size=cfg.batch_size, scheduler=sched, ema_decay=cfg.ema_decay,
                    device=dev, last_path=out_path, resume=resume, progress=cfg.progress, desc=desc,
                    score_name=f"val_{metric}", seed=cfg.seed + start)
    soft_all = soft_targets(y_train, multilabel, C)

    def train_step(idx: torch.Tensor, epoch: int):
        hb, yb = h_train[idx].clone(), soft_all[idx]
        if cfg.time_shift and hb.ndim == 4:
            shifts = torch.randint(0, hb.shape[-1], (len(idx),), generator=g)
            hb = torch.stack([torch.roll(hb[i], int(shifts[i]), dims=-1) for i in range(len(idx))])
        if cfg.mixup_alpha > 0:
            hb, yb = mixup(hb, yb, cfg.mixup_alpha, g)
        with autocast_context(dev, cfg.amp):
            logits = engine.train_module(hb.to(dev))  # DDP under torchrun
        return target_loss(logits.float(), yb.to(dev), multilabel=multilabel), {}

    def validate(scored: nn.Module):
        logits = engine.gather(lambda idx: _logits(scored, h_val[idx], dev, cfg.amp), len(h_val))
        value = _score(logits, y_val.numpy(), multilabel, C)
        return value, {f"val_{metric}": value, "val_loss": float(target_loss(logits, soft_targets(y_val, multilabel, C),
                                                                              multilabel=multilabel))}

    loop = engine.fit(len(h_train), train_step, validate)
    return loop


def finetune_pretrained(dataset, preset: str | Preset = "efficientat", config: FinetuneConfig | None = None, *,
                        out_dir: str | Path | None = None, resume: bool = False,
                        features: dict | None = None) -> TrainResult:
    """Fit the candidates of :data:`CANDIDATES` on the train split; keep the best on validation.

    Parameters
    ----------
    dataset : AudioDataset
    preset : str or Preset
        ``'efficientat'`` or ``'aisfx'`` (a pretrained backbone's own front end; :data:`BACKBONES`).
    config : FinetuneConfig
    out_dir : path or None
        Where ``classifier.pt`` / ``.json`` (the selected candidate) and the resume states go.
    resume : bool
    features : dict or None
        ``{"train": ..., "validation": ...}`` from :func:`~l2i_core.train.recipes.compute_features`.

    Returns
    -------
    TrainResult
        The selected candidate; ``meta["candidates"]`` lists every candidate's validation score,
        epochs and seconds, ``meta["trainable"]`` the one kept. ``candidates`` (attribute) holds the
        candidate models, for scoring them on test once, after selection.
    """
    cfg = config or FinetuneConfig()
    p = get_preset(preset)
    if p.classifier not in BACKBONES:
        raise ParameterError(f"preset {p.name!r} does not use a pretrained backbone; use preset 'efficientat' or "
                             "'aisfx'")
    Net = BACKBONES[p.classifier]
    dev = resolve_device(cfg.device)
    train_ds, val_ds = dataset.split("train"), dataset.split("validation")
    if len(train_ds) < 2 or len(val_ds) == 0:
        raise ParameterError(f"{dataset.name}: needs train and validation splits to fine-tune and select")
    feats = features or {}
    x_train = feats.get("train")
    x_val = feats.get("validation")
    x_train = compute_features(train_ds, p, device=cfg.device, progress=cfg.progress) if x_train is None else x_train
    x_val = compute_features(val_ds, p, device=cfg.device, progress=cfg.progress) if x_val is None else x_val
    y_train, y_val = label_tensor(train_ds), label_tensor(val_ds)
    C, ml = len(dataset.classes), dataset.multilabel
    out_dir = Path(out_dir) if out_dir is not None else None
    t0 = time.perf_counter()
    base = Net(C, p, multilabel=ml, hidden=cfg.hidden, dropout=cfg.dropout, trainable="head")
    low = base.last_start  # the blocks below "last"'s are computed once
    # float32, as f runs everywhere downstream (the cache, faithfulness); only what trains uses autocast
    h3 = {split: bottom_features(base, x, low, device=dev, amp=False, progress=cfg.progress,
                                 desc=f"frozen blocks 1-{low}, {split}")
          for split, x in (("train", x_train), ("validation", x_val))}
    emb = {k: _pooled_top(base, v, low, dev) for k, v in h3.items()}
    prep = time.perf_counter() - t0
    candidates, models = [], {}
    probe = None
    if {"probe", "last"} & set(cfg.candidates):  # the probe is also the starting head of "last" (LP-FT)
        t1 = time.perf_counter()
        layer, score, tried = linear_probe(emb["train"], y_train, emb["validation"], y_val, n_classes=C,
                                           multilabel=ml, Cs=cfg.probe_C, seed=cfg.seed)
        probe = (layer, score, tried, time.perf_counter() - t1)
    for name in cfg.candidates:
        t1 = time.perf_counter()
        torch.manual_seed(cfg.seed)
        if name == "probe":
            model = Net(C, p, multilabel=ml, hidden=None, dropout=0.0, trainable="head", pretrained=False)
            model.blocks.load_state_dict(base.blocks.state_dict())
            model.head[-1].load_state_dict(probe[0].state_dict())
            score = probe[1]
            info = {"C_tried": probe[2], "epochs": 0, "best_epoch": 0, "history": []}
            t1 -= probe[3]
        else:
            last = name == "last"
            model = Net(C, p, multilabel=ml, hidden=None if last else cfg.hidden,
                                    dropout=0.0 if last else cfg.dropout, trainable=name, pretrained=False)
            model.blocks.load_state_dict(base.blocks.state_dict())
            if last:
                model.head[-1].load_state_dict(probe[0].state_dict())
            model = model.to(dev)
            start = base.n_blocks if name == "head" else low
            src = emb if name == "head" else h3
            epochs = cfg.epochs_head if name == "head" else cfg.epochs_last
            loop = _train_top(model, start, src["train"], y_train, src["validation"], y_val, cfg, epochs=epochs,
                              multilabel=ml, out_path=out_dir / f"finetune_{name}_last.pt" if out_dir else None,
                              resume=resume, desc=f"fine-tuning ({name}) on {dataset.name}")
            score = loop.best_score
            info = {"epochs": epochs, "best_epoch": loop.best_epoch, "history": loop.history}
        model = model.cpu().eval()
        models[name] = model
        candidates.append({"trainable": name, "validation": float(score), "seconds": time.perf_counter() - t1, **info})
    best = max(candidates, key=lambda c: c["validation"])
    model = models[best["trainable"]]
    thresholds = None
    if ml:
        probs = torch.sigmoid(predict_logits(model, x_val)).numpy()
        thresholds = choose_thresholds(probs, y_val.numpy())
    metric = "macro_auprc" if ml else "accuracy"
    result = TrainResult(
        model=model, history=best["history"], best_epoch=best["best_epoch"], best_metric=best["validation"],
        metric_name=metric, thresholds=thresholds, seconds=time.perf_counter() - t0,
        meta={"dataset": dataset.name, "protocol": dataset.protocol, "preset": p.name, "classes": dataset.classes,
              "duration": dataset.duration,
              "multilabel": ml, "arch": model.config(), "config": dataclasses.asdict(cfg), "device": str(dev),
              "n_train": len(train_ds), "n_validation": len(val_ds), "l2i_version": __version__,
              "backbone": Net.credit, "trainable": best["trainable"], "prep_seconds": prep,
              "candidates": [{k: v for k, v in c.items() if k != "history"} for c in candidates],
              "histories": {c["trainable"]: c["history"] for c in candidates}},
    )
    result.candidates = models
    if out_dir is not None and is_main():
        save_classifier(model, out_dir, meta=result.sidecar())
    barrier()
    return result


@torch.no_grad()
def _pooled_top(model: Backbone, h: torch.Tensor, start: int, dev, batch_size: int = 32) -> torch.Tensor:
    """The pooled embedding from block ``start``'s input ``h`` (the blocks above, then the pooling), in float32."""
    model = model.to(dev).eval()
    out = []
    for s in batch_starts(len(h), batch_size):
        x = h[s : s + batch_size].to(dev)
        for b in model.blocks[start:]:
            x = b(x)
        out.append(model.pool(x).float().cpu())
    return torch.cat(out)
