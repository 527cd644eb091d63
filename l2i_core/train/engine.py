"""The one training loop: every model of l2i is trained by :class:`Engine`; recipes only say what a step is.

A recipe (:func:`l2i_core.train.recipes.train_classifier`, :func:`~l2i_core.train.recipes.train_interpreter`)
builds the module and its optimiser, then hands the engine

* ``train_step(idx, epoch) -> (loss, logs)``: the forward pass on the clips ``idx`` (inside
  :func:`autocast_context` where it wants bfloat16) and the scalar loss; ``logs`` are floats to
  average over the epoch (history keys ``train_<name>``);
* ``validate(module) -> (score, columns)``: the selection score of the module being validated (the
  EMA copy when there is one) and the history columns of the epoch.

The engine owns everything else, once:

* seeding: :func:`seeded_generator` seeds torch and returns the generator every shuffle (and the
  recipe's augmentation) draws from, so that two runs with the same seed give the same weights;
* the batch order: :meth:`Engine.batches`, a permutation of the training items per epoch, batches
  of one item skipped (batch norm needs two);
* the optimiser step, the per-step scheduler and the EMA of the weights (:class:`EMA`);
* best-on-validation: the state of the epoch with the highest score, loaded back at the end;
* the resumable state ``<name>_last.pt`` after every epoch, and resuming from it;
* the tqdm bar.

Under ``torchrun`` (a process group started by :func:`l2i_core.train.distributed.init_distributed`) the
engine runs PyTorch's DistributedDataParallel: the trained module is wrapped (recipes call
:attr:`Engine.train_module` in their step, so DDP averages the gradients), each epoch's order comes
from ``DistributedSampler`` (``set_epoch`` every epoch; the per-process batch size stays
``batch_size`` and the global one is ``world_size × batch_size``), :meth:`Engine.gather` computes
validation outputs on shards and gathers them from every rank, and only rank 0 writes the resume
state and draws the bar. A checkpoint written by any number of processes resumes on any other.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from l2i_core._errors import ParameterError
from l2i_core._utils import resolve_device
from l2i_core.models.checkpoints import cpu_state, load_training_state, save_training_state
from l2i_core.train.distributed import dist_info, gather_map

__all__ = ["EMA", "Engine", "LoopResult", "native_bf16", "autocast_context", "seeded_generator", "AVX2_NO_BF16_ENV"]

TrainStep = Callable[[torch.Tensor, int], tuple[torch.Tensor, dict]]
Validate = Callable[[nn.Module], tuple[float, dict]]


#: The environment that makes PyTorch run as a CPU with AVX2 but no AVX-512 and no native bfloat16 (a common
#: laptop or cloud CPU), on a machine that has more: ATen's vector kernels, oneDNN and MKL are capped, and
#: since oneDNN then reports no bf16, :func:`native_bf16` is false and autocast stays off.
#: ``make reproduce AS_AVX2=1`` sets it; ``benchmarks/bench_cpu_capability.py`` checks that it takes effect.
#: It must be set before the process starts (the libraries read it once, at load time).
AVX2_NO_BF16_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


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
    chosen and scored in float32 (validation runs without autocast).
    """
    dev = torch.device(device)
    return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bool(enabled) and native_bf16(dev))


def seeded_generator(seed: int) -> torch.Generator:
    """Seed torch's global generator (initialisation, dropout) with ``seed`` and return a CPU generator
    seeded the same way for shuffling and augmentation. Call it before building the module."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


class EMA:
    """Exponential moving average of a model's weights, with the usual warm-up of the decay.

    After optimiser step n the average moves with decay ``min(decay, (1 + n) / (10 + n))``, so that
    early on it follows the model instead of remembering the random initialisation. Batch-norm
    statistics are averaged like the weights.
    """

    def __init__(self, model: nn.Module, decay: float):
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


@dataclass
class LoopResult:
    """What :meth:`Engine.fit` returns; the engine's module then holds the best state, in eval mode."""

    history: list[dict]
    best_epoch: int
    best_score: float
    seconds: float
    world_size: int = 1
    global_batch_size: int = 0


class Engine:
    """The training loop shared by every recipe.

    Parameters
    ----------
    module : nn.Module
        The trained module, already on ``device``.
    optimizer : torch.optim.Optimizer
    generator : torch.Generator
        From :func:`seeded_generator`; shuffles the batches and is saved with the resume state.
    epochs : int
    batch_size : int
    scheduler : LRScheduler or None
        Stepped after every optimiser step.
    ema_decay : float or None
        Validate, select and keep an :class:`EMA` of the weights instead of the weights themselves.
    device : str, torch.device or None
    last_path : path or None
        Where the resumable state is written after every epoch (``<name>_last.pt``).
    resume : bool
        Continue from ``last_path`` when it exists.
    progress : bool
    desc : str
        The bar's label.
    score_name : str
        The selection score's name, shown on the bar.
    seed : int or None
        The run seed of the ``DistributedSampler`` order (the same on every rank); default the
        generator's initial seed.
    sampler_order : bool
        Order epochs with ``DistributedSampler`` even in one process (always under DDP): then a
        run on N processes with batch B/N sees exactly the batches of a one-process run with batch B.
    """

    def __init__(self, module: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator, *,
                 epochs: int, batch_size: int, scheduler=None, ema_decay: float | None = None, device=None,
                 last_path: str | Path | None = None, resume: bool = False, progress: bool = True, desc: str = "",
                 score_name: str = "score", seed: int | None = None, sampler_order: bool = False):
        if epochs < 1 or batch_size < 1:
            raise ParameterError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
        self.module, self.optimizer, self.scheduler, self.generator = module, optimizer, scheduler, generator
        self.epochs, self.batch_size = int(epochs), int(batch_size)
        self.device = resolve_device(device)
        self.last_path = Path(last_path) if last_path is not None else None
        self.resume, self.progress, self.desc, self.score_name = resume, progress, desc, score_name
        self.info = dist_info()
        self.seed = int(generator.initial_seed() if seed is None else seed)
        self.sampler_order = bool(sampler_order) or self.info.distributed
        self.train_module: nn.Module = module
        if self.info.distributed:  # PyTorch's DDP: gradients averaged over the ranks, rank 0's weights broadcast
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index if self.device.index is not None else 0] if self.device.type == "cuda" else None
            self.train_module = DistributedDataParallel(module, device_ids=ids)
        # after the wrap, which broadcast rank 0's weights: every rank's EMA starts from the same ones
        self.ema = EMA(module, ema_decay) if ema_decay is not None else None

    @property
    def rank(self) -> int:
        """This process's rank (0 in one process)."""
        return self.info.rank

    @property
    def world_size(self) -> int:
        return self.info.world_size

    @property
    def global_batch_size(self) -> int:
        """Clips per optimiser step over every rank: ``world_size × batch_size``."""
        return self.world_size * self.batch_size

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and draws the bar (rank 0)."""
        return self.rank == 0

    @property
    def scored_module(self) -> nn.Module:
        """The module validated, selected and kept: the EMA copy when there is one."""
        return self.ema.module if self.ema is not None else self.module

    def batches(self, n: int, epoch: int = 0) -> Iterator[torch.Tensor]:
        """Index tensors of one epoch: a permutation of ``range(n)`` from the generator, in batches.

        With :attr:`sampler_order` (always under DDP), this rank's shard of ``DistributedSampler``'s
        permutation for ``epoch`` (``set_epoch``), the same seed on every rank.
        """
        if self.sampler_order:
            from torch.utils.data import DistributedSampler

            sampler = DistributedSampler(range(n), num_replicas=self.world_size, rank=self.rank, shuffle=True,
                                         seed=self.seed, drop_last=False)
            sampler.set_epoch(epoch)
            order = torch.as_tensor(list(sampler), dtype=torch.long)
        else:
            order = torch.randperm(n, generator=self.generator)
        for s in range(0, len(order), self.batch_size):
            idx = order[s : s + self.batch_size]
            if len(idx) >= 2:  # batch norm needs two examples
                yield idx

    def _step(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.module)

    def _train_epoch(self, n: int, train_step: TrainStep, epoch: int) -> dict:
        self.module.train()
        terms: dict[str, list[float]] = {}
        for idx in self.batches(n, epoch):
            loss, logs = train_step(idx, epoch)
            self._step(loss)
            for k, v in {"loss": loss.item(), **logs}.items():
                terms.setdefault(k, []).append(v)
        if not terms:
            return {"train_loss": float("nan")}
        return {f"train_{k}": float(np.mean(v)) for k, v in terms.items()}

    def gather(self, fn: Callable[[torch.Tensor], torch.Tensor], n: int, batch_size: int = 64) -> torch.Tensor:
        """``fn`` over ``range(n)`` in batches, this rank's shard only, gathered from every rank
        (:func:`~l2i_core.train.distributed.gather_map`): scores on the rows are the one-process scores."""
        return gather_map(fn, n, batch_size)

    def _state(self, history: list[dict], best: dict, epoch: int) -> dict:
        return {"model": self.module.state_dict(), "optimizer": self.optimizer.state_dict(),
                **({"scheduler": self.scheduler.state_dict()} if self.scheduler is not None else {}),
                **({"ema": self.ema.state_dict()} if self.ema is not None else {}),
                "history": history, "best_score": best["score"], "best_epoch": best["epoch"],
                "best_state": best["state"], "generator": self.generator.get_state(),
                "torch_rng": torch.get_rng_state(), "epoch": epoch}

    def _restore(self) -> tuple[list[dict], dict, int]:
        """History, best and first epoch: from ``last_path`` when resuming, else a fresh start."""
        fresh = [], {"score": -math.inf, "epoch": -1, "state": None}, 0
        if not (self.resume and self.last_path is not None and self.last_path.is_file()):
            return fresh
        st = load_training_state(self.last_path, device=self.device)
        self.module.load_state_dict(st["model"])
        self.optimizer.load_state_dict(st["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(st["scheduler"])
        if self.ema is not None and "ema" in st:
            self.ema.load_state_dict(st["ema"])
        self.generator.set_state(st["generator"])
        torch.set_rng_state(st["torch_rng"])
        score = st.get("best_score", st.get("best_metric", st.get("best_fidelity")))  # older files
        best = {"score": float(score), "epoch": int(st["best_epoch"]), "state": st["best_state"]}
        return [dict(h) for h in st["history"]], best, int(st["epoch"]) + 1

    def _bar(self, start: int):
        if not (self.progress and self.is_main):
            return None
        from tqdm.auto import tqdm

        return tqdm(total=self.epochs, initial=start, desc=self.desc, unit="epoch")

    def fit(self, n_train: int, train_step: TrainStep, validate: Validate) -> LoopResult:
        """Train for the remaining epochs over ``n_train`` items; load the best state into the module.

        Raises
        ------
        ParameterError
            When no epoch was ever validated with a finite score (``epochs`` already reached by the
            resume state, or a NaN score).
        """
        history, best, start = self._restore()
        if self.info.distributed and self.is_main and self.progress:
            print(f"{self.desc}: DDP over {self.world_size} processes ({self.info.backend}), batch {self.batch_size} "
                  f"per process = {self.global_batch_size} per step", flush=True)
        bar = self._bar(start)
        t0 = time.perf_counter()
        for epoch in range(start, self.epochs):
            te = time.perf_counter()
            train = self._train_epoch(n_train, train_step, epoch)
            score, columns = validate(self.scored_module)
            history.append({"epoch": epoch, **train, **columns, "seconds": time.perf_counter() - te})
            if score > best["score"]:
                best = {"score": score, "epoch": epoch, "state": cpu_state(self.scored_module)}
            if self.last_path is not None and self.is_main:
                save_training_state(self._state(history, best, epoch), self.last_path)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{train['train_loss']:.3f}", **{self.score_name: f"{score:.3f}"})
        if bar is not None:
            bar.close()
        if best["state"] is None:
            raise ParameterError("no epoch was trained and validated; raise epochs or check the resume state")
        self.module.load_state_dict(best["state"])
        self.module.eval()
        return LoopResult(history=history, best_epoch=best["epoch"], best_score=best["score"],
                          seconds=time.perf_counter() - t0, world_size=self.world_size,
                          global_batch_size=self.global_batch_size)
