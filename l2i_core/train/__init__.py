"""Training: the one loop (Engine), torch.distributed helpers, the cache of tapped activations, the losses and the recipes (classifier, fine-tuning, interpreter, L-MAC).

Modules
-------
distributed         More than one process: PyTorch's own distributed engine, and nothing home-made.
engine              The one training loop: every model of l2i is trained by :class:`Engine`; recipes only say what a step is.
losses              The L2I training loss: fidelity to the classifier, reconstruction through W, sparsity of H.
cache               Activation cache: what the frozen classifier says about each clip, computed once.
recipes             Training recipes over :class:`~l2i_core.train.engine.Engine`: the classifier f, and the interpreter Ψ, Θ.
finetune            Fine-tuning a pretrained backbone on the target data, selected on validation.
lmac                L-MAC, Listenable Maps for Audio Classifiers (Paissan, Ravanelli, Subakan, ICML 2024), for any tapped classifier.
"""

from l2i_core.train.cache import (
    ActivationCache,
    ShardedArray,
    build_cache,
    cache_bytes_per_clip,
    load_cache,
    per_clip_bytes,
)
from l2i_core.train.distributed import (
    RANK_SEED_STRIDE,
    DistInfo,
    barrier,
    dist_info,
    gather_map,
    gather_rows,
    init_distributed,
    is_main,
    rank_seed,
    shard_range,
    shutdown_distributed,
)
from l2i_core.train.engine import (
    AVX2_NO_BF16_ENV,
    EMA,
    Engine,
    LoopResult,
    autocast_context,
    native_bf16,
    seeded_generator,
)
from l2i_core.train.finetune import (
    BACKBONES,
    CANDIDATES,
    FinetuneConfig,
    bottom_features,
    finetune_pretrained,
    linear_probe,
)
from l2i_core.train.lmac import SELECTION_METRIC, LMACConfig, LMACResult, lmac_targets, masked_logits, train_lmac
from l2i_core.train.losses import (
    LMACWeights,
    LossWeights,
    fidelity_loss,
    l2i_loss,
    lmac_loss,
    soft_cross_entropy,
    target_loss,
    total_variation,
)
from l2i_core.train.recipes import (
    SELECTION_METRICS,
    InterpreterConfig,
    InterpreterResult,
    TrainConfig,
    TrainResult,
    choose_thresholds,
    compute_features,
    default_train_config,
    evaluate_classifier,
    interpreter_outputs,
    predict_logits,
    selection_score,
    train_classifier,
    train_interpreter,
)

__all__ = [
    "BACKBONES",
    "ActivationCache",
    "build_cache",
    "load_cache",
    "ShardedArray",
    "cache_bytes_per_clip",
    "per_clip_bytes",
    "DistInfo",
    "init_distributed",
    "shutdown_distributed",
    "dist_info",
    "is_main",
    "rank_seed",
    "shard_range",
    "gather_rows",
    "gather_map",
    "barrier",
    "RANK_SEED_STRIDE",
    "EMA",
    "Engine",
    "LoopResult",
    "native_bf16",
    "autocast_context",
    "seeded_generator",
    "AVX2_NO_BF16_ENV",
    "FinetuneConfig",
    "CANDIDATES",
    "finetune_pretrained",
    "linear_probe",
    "bottom_features",
    "LMACConfig",
    "LMACResult",
    "SELECTION_METRIC",
    "masked_logits",
    "lmac_targets",
    "train_lmac",
    "LossWeights",
    "soft_cross_entropy",
    "target_loss",
    "fidelity_loss",
    "l2i_loss",
    "LMACWeights",
    "total_variation",
    "lmac_loss",
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
