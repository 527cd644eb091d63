"""The published reference numbers, kept once, so that every table can print them beside ours.

* :data:`PAPER`: Parekh, Parekh, Essid, Richard, *Listen to Interpret*, NeurIPS 2022 (tables of
  fidelity, faithfulness and the classifiers' accuracy), plus one classical ESC-10 baseline.
* :data:`SPEECHBRAIN_ESC50`: the out-of-domain table of SpeechBrain's ``recipes/ESC50/interpret``
  README (CNN14 on ESC-50), the only public L2I / L-MAC head-to-head.

A number from here may only be shown beside the *identical* quantity of ours (same metric, same
Θ head, same τ); :mod:`l2i_core.report.headline` enforces that through one table of headline rows.
This module is a leaf: it imports nothing.
"""

from __future__ import annotations

__all__ = ["PAPER", "SPEECHBRAIN_ESC50", "PAPER_TAUS"]

#: The τ values of the paper's faithfulness table.
PAPER_TAUS = (0.9, 0.7, 0.5, 0.3, 0.1)

#: Reference numbers from the paper (Parekh et al., NeurIPS 2022), shown beside ours.
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
    # Median faithfulness (logit drop), ESC-50, attention Theta; random baseline < 1e-4.
    "faithfulness_esc50": {0.9: 0.002, 0.7: 0.004, 0.5: 0.012, 0.3: 0.040, 0.1: 0.113},
}



#: SpeechBrain ``recipes/ESC50/interpret`` README, out-of-domain table (CNN14 on ESC-50). Its L2I row
#: is partly an artefact of that evaluation (Θ not loaded, Fid-In against class 0, AD on probabilities
#: soft-maxed twice, validation fold): shown for reference, never as a target.
SPEECHBRAIN_ESC50 = {
    "L-MAC": {"AI": 61.62, "AD": 3.83, "AG": 33.48, "FF": 0.40, "Fid-In": 0.82, "SPS": 0.93, "COMP": 9.77},
    "L2I": {"AI": 6.75, "AD": 25.93, "AG": 1.25, "FF": 0.26, "Fid-In": 0.01, "SPS": 0.58, "COMP": 11.38},
}
