"""The published reference numbers, kept once, with the setting each was measured in.

* :data:`PAPER`: Parekh, Parekh, Mozharovskyi, d'Alché-Buc, Richard, *Listen to Interpret*, NeurIPS 2022
  (tables of fidelity, faithfulness and the classifiers' accuracy), plus one classical ESC-10 baseline.
* :data:`PAPER_SPREADS`: the ± spread the paper gives beside each number (ESC-50 numbers are over its
  5 folds, SONYC-UST numbers over 3 runs), in the same layout as :data:`PAPER`. ``None`` where the
  spread is not recorded here: the paper's text could not be consulted when this file was written,
  so no spread is copied from memory (every one is ``None`` today; fill one in only from the paper).
* :data:`PAPER_SETTINGS` (read with :func:`setting_of`): per table of :data:`PAPER`, the setting its
  numbers come from: data, classes, folds or runs, classifier, how the official code
  (github.com/jayneelparekh/L2I-code, ``audint_posthoc.py``) selected the checkpoint and computed FF.
* :data:`SPEECHBRAIN_ESC50`: the out-of-domain table of SpeechBrain's ``recipes/ESC50/interpret``
  README (CNN14 on ESC-50, its validation fold), the only public L2I / L-MAC head-to-head, with
  :data:`SPEECHBRAIN_SETTING`.

The paper's FF (Eq. 6, Table 1: "drop in probability") is the median drop of f's output
*probability* of the class when the relevant components are removed: it may stand only beside our
median probability drop, never beside a logit drop. A number from here stands in the same column as
ours only when it is the *identical* quantity (metric, Θ head, τ) measured on the same data with the
same protocol; otherwise it is listed apart, as the closest published setting, with what differs.
:mod:`l2i_core.report.headline` enforces both. This module is a leaf: it imports nothing.
"""

from __future__ import annotations

__all__ = ["PAPER", "PAPER_SPREADS", "PAPER_SETTINGS", "setting_of", "SPEECHBRAIN_ESC50", "SPEECHBRAIN_SETTING",
           "PAPER_TAUS"]

#: The τ values of the paper's faithfulness table.
PAPER_TAUS = (0.9, 0.7, 0.5, 0.3, 0.1)

#: Reference numbers from the paper (Parekh et al., NeurIPS 2022): each shown beside our identical quantity
#: measured in the same setting, else as the closest published setting (:data:`PAPER_SETTINGS`).
PAPER = {
    "classifier": {
        "esc50_accuracy": 0.825,
        "sonyc_macro_auprc": 0.601,
        # Not from the L2I paper: Piczak (2015), CNN on ESC-10, 5-fold CV.
        "esc10_piczak2015_accuracy": 0.805,
    },
    "fidelity_esc50": {  # top-k fidelity in %, ESC-50, 5-fold CV
        "L2I attention": {"top1": 65.7, "top3": 81.8, "top5": 88.2},
        "L2I max-pool": {"top1": 73.3, "top3": 87.8, "top5": 92.7},
        "FLINT": {"top1": 73.5, "top3": 89.1, "top5": 93.4},
        "VIBI": {"top1": 27.7, "top3": 45.4, "top5": 53.0},
    },
    "fidelity_sonyc": {
        "L2I attention": {"macro_auprc": 0.909, "micro_auprc": 0.917, "max_f1": 0.847},
        "L2I max-pool": {"macro_auprc": 0.866, "micro_auprc": 0.913, "max_f1": 0.840},
        "FLINT": {"macro_auprc": 0.816, "micro_auprc": 0.907, "max_f1": 0.825},
        "VIBI": {"macro_auprc": 0.608, "micro_auprc": 0.575, "max_f1": 0.549},
    },
    # Median faithfulness FF (paper Eq. 6, Table 1): the drop in f's output PROBABILITY of the class
    # when the components with relevance > tau are removed (not a logit drop); ESC-50, attention Theta,
    # mean of the 5 folds' medians; random baseline < 1e-4.
    "faithfulness_esc50": {0.9: 0.002, 0.7: 0.004, 0.5: 0.012, 0.3: 0.040, 0.1: 0.113},
}


def _no_spread(table: dict) -> dict:
    return {k: _no_spread(v) if isinstance(v, dict) else None for k, v in table.items()}


#: The paper's ± spread beside each number of :data:`PAPER` (same keys; same unit as the number).
#: ``None``: spread not recorded here. The ESC-50 values are means over the 5 folds and the SONYC-UST
#: values means over 3 runs (DESIGN §1, §9), but the spreads printed beside them could not be checked
#: against the paper's text when this was written, and none is copied from memory.
PAPER_SPREADS: dict = _no_spread(PAPER)

_KUMAR = "Kumar et al. CNN, AudioSet-pretrained, fine-tuned"

#: Per table of :data:`PAPER` (per value for ``classifier``): the setting its numbers were measured in.
#: ``data``, ``classes``, ``protocol`` and ``repeats`` describe the data; ``classifier`` is the f
#: interpreted; ``checkpoint`` says how Θ's checkpoint was chosen and ``relevance`` how FF's relevance
#: was computed in the official code; ``quantity`` what the number is; ``source`` where in the official
#: code (github.com/jayneelparekh/L2I-code, ``audint_posthoc.py``) the checkpoint / relevance rule was read.
PAPER_SETTINGS = {
    "classifier": {
        "esc50_accuracy": {"data": "ESC-50", "classes": "50", "protocol": "the ESC-50 test folds of its experiments",
                           "repeats": "", "classifier": _KUMAR, "checkpoint": "", "relevance": "",
                           "quantity": "f's test accuracy", "source": ""},
        "sonyc_macro_auprc": {"data": "SONYC-UST v2", "classes": "8 coarse", "protocol": "official test split",
                              "repeats": "", "classifier": _KUMAR, "checkpoint": "", "relevance": "",
                              "quantity": "f's macro-AUPRC", "source": ""},
        "esc10_piczak2015_accuracy": {"data": "ESC-10", "classes": "10", "protocol": "5-fold cross-validation",
                                      "repeats": "", "classifier": "Piczak (2015) CNN, from scratch",
                                      "checkpoint": "", "relevance": "", "quantity": "test accuracy",
                                      "source": "Piczak, MLSP 2015 (not the L2I paper)"},
    },
    "fidelity_esc50": {
        "data": "ESC-50", "classes": "50", "protocol": "5-fold cross-validation", "repeats": "mean over 5 folds",
        "classifier": _KUMAR, "checkpoint": "the epoch of best fidelity on the test fold, in the official code",
        "relevance": "", "quantity": "top-k fidelity of Θ to f, % of test clips",
        "source": "audint_posthoc.py, ESC-50 training loop: test() on the test loader keeps best_H / best_h",
    },
    "fidelity_sonyc": {
        "data": "SONYC-UST v2", "classes": "8 coarse",
        "protocol": "official split, macro-AUPRC without non-machinery impact", "repeats": "mean over 3 runs",
        "classifier": _KUMAR, "checkpoint": "the last of 21 epochs, no selection, in the official code",
        "relevance": "", "quantity": "11-threshold AUPRC / max-F1 of Θ against f's decisions",
        "source": "audint_posthoc.py, SONYC-UST branch: save_model without save_best after the last epoch",
    },
    "faithfulness_esc50": {
        "data": "ESC-50", "classes": "50", "protocol": "5-fold cross-validation",
        "repeats": "mean of the 5 folds' medians", "classifier": _KUMAR,
        "checkpoint": "the epoch of best fidelity on the test fold, in the official code",
        "relevance": "max-pooled H for the attention head, in the official FF code",
        "quantity": "median drop of f's softmax probability of its class (paper Eq. 6, Table 1)",
        "source": ("audint_posthoc.py, faithfulness_eval_multiclass: relevance from nn.AdaptiveMaxPool1d(H), "
                   "every component with r > τ removed (no top-5 cap)"),
    },
}


def setting_of(key: str) -> dict:
    """The :data:`PAPER_SETTINGS` entry of a table (``'fidelity_esc50'``) or of one classifier value
    (``'classifier/esc50_accuracy'``); ``{}`` when unknown."""
    out = PAPER_SETTINGS
    for part in key.split("/"):
        out = out.get(part, {}) if isinstance(out, dict) else {}
    return out if isinstance(out, dict) and "data" in out else {}


#: SpeechBrain ``recipes/ESC50/interpret`` README, out-of-domain table (CNN14 on ESC-50). Its L2I row
#: is partly an artefact of that evaluation (Θ not loaded, Fid-In against class 0, AD on probabilities
#: soft-maxed twice, validation fold): shown for reference, never as a target.
SPEECHBRAIN_ESC50 = {
    "L-MAC": {"AI": 61.62, "AD": 3.83, "AG": 33.48, "FF": 0.40, "Fid-In": 0.82, "SPS": 0.93, "COMP": 9.77},
    "L2I": {"AI": 6.75, "AD": 25.93, "AG": 1.25, "FF": 0.26, "Fid-In": 0.01, "SPS": 0.58, "COMP": 11.38},
}

#: Where :data:`SPEECHBRAIN_ESC50` comes from and what is known to be wrong with it (DESIGN §5).
SPEECHBRAIN_SETTING = {
    "source": "SpeechBrain recipes/ESC50/interpret README, out-of-domain table",
    "classifier": "PANNs CNN14 (AudioSet-pretrained) fine-tuned on ESC-50",
    "data": "ESC-50, evaluated on the validation fold (fold 4), not the test fold",
    "known_bugs": ("L2I's Θ is never loaded; L2I's Fid-In is taken against class 0; AD is computed on "
                   "probabilities soft-maxed twice (every method)"),
}
