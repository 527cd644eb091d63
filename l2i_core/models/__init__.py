"""The networks: the classifier f with named taps, the pretrained backbones, L2I's Ψ and Θ, L-MAC's decoder, and their checkpoints (state dicts, ``weights_only=True``).

Modules
-------
classifier          The classifier to be interpreted, with named taps on three hidden layers, and FeatureTap.
pretrained          A pretrained audio network that can be had here: the aiSFX backbone, loaded safely, with a new head.
efficientat         EfficientAT mn04_as, an AudioSet tagger (MobileNetV3, width 0.4), in l2i's own code, with its front end.
interpreter         The L2I interpreter: Ψ decodes the classifier's hidden maps into NMF activations H, Θ predicts
lmac                The L-MAC decoder network (Paissan, Ravanelli, Subakan, ICML 2024): tapped maps of f → one soft mask per class (or one).
checkpoints         Save and load every trained model: state dicts beside a JSON sidecar, read with ``weights_only=True``.
blind               Region-blind classifiers: any f wrapped so that it sees only a band of mel filters and / or a span of frames.
"""

from l2i_core.models.blind import (
    DB_AMIN,
    EFFICIENTAT_SILENCE,
    BlindRegion,
    RegionBlind,
    band_region,
    blind_constants,
    load_blind,
    peak_bound_db,
    save_blind,
    span_region,
    visible_region_on_grid,
)
from l2i_core.models.checkpoints import (
    SHARD_INDEX_KEY,
    claim_resume_state,
    cpu_state,
    load_classifier,
    load_interpreter,
    load_lmac,
    load_state_dict,
    load_training_state,
    save_classifier,
    save_interpreter,
    save_lmac,
    save_state_dict,
    save_training_state,
)
from l2i_core.models.classifier import ARCHITECTURES, ArchConfig, AudioCNN, FeatureTap, count_parameters
from l2i_core.models.efficientat import (
    EFFICIENTAT_CREDIT,
    EFFICIENTAT_FILE,
    EFFICIENTAT_LABELS_FILE,
    EFFICIENTAT_LABELS_SHA256,
    EFFICIENTAT_LABELS_URL,
    EFFICIENTAT_SHA256,
    EFFICIENTAT_SR,
    EFFICIENTAT_URL,
    EfficientATClassifier,
    EfficientATFrontEnd,
    EfficientATMN,
    audioset_labels,
    efficientat_weights,
    load_efficientat,
    make_divisible,
)
from l2i_core.models.interpreter import AttentionTheta, L2IInterpreter, MaxTheta, NMFDecoder, PsiDecoder, make_theta
from l2i_core.models.lmac import LMACDecoder, freq_positions, lmac_masks, select_masks
from l2i_core.models.pretrained import (
    AISFX_CREDIT,
    AISFX_SHA256,
    INSTALL_HINT,
    TRAINABLE_BLOCKS,
    AiSFXClassifier,
    BackboneClassifier,
    aisfx_checkpoint_path,
    load_aisfx_checkpoint,
)

__all__ = [
    "save_classifier",
    "load_classifier",
    "save_interpreter",
    "load_interpreter",
    "save_training_state",
    "load_training_state",
    "claim_resume_state",
    "cpu_state",
    "save_lmac",
    "load_lmac",
    "save_state_dict",
    "load_state_dict",
    "SHARD_INDEX_KEY",
    "ArchConfig",
    "ARCHITECTURES",
    "AudioCNN",
    "FeatureTap",
    "count_parameters",
    "PsiDecoder",
    "AttentionTheta",
    "MaxTheta",
    "NMFDecoder",
    "L2IInterpreter",
    "make_theta",
    "LMACDecoder",
    "freq_positions",
    "lmac_masks",
    "select_masks",
    "AISFX_SHA256",
    "AISFX_CREDIT",
    "INSTALL_HINT",
    "aisfx_checkpoint_path",
    "load_aisfx_checkpoint",
    "AiSFXClassifier",
    "BackboneClassifier",
    "TRAINABLE_BLOCKS",
    "EFFICIENTAT_FILE",
    "EFFICIENTAT_URL",
    "EFFICIENTAT_SHA256",
    "EFFICIENTAT_LABELS_FILE",
    "EFFICIENTAT_LABELS_URL",
    "EFFICIENTAT_LABELS_SHA256",
    "EFFICIENTAT_CREDIT",
    "EFFICIENTAT_SR",
    "make_divisible",
    "EfficientATClassifier",
    "EfficientATFrontEnd",
    "EfficientATMN",
    "efficientat_weights",
    "audioset_labels",
    "load_efficientat",
    "BlindRegion",
    "RegionBlind",
    "band_region",
    "span_region",
    "blind_constants",
    "peak_bound_db",
    "visible_region_on_grid",
    "save_blind",
    "load_blind",
    "EFFICIENTAT_SILENCE",
    "DB_AMIN",
]
