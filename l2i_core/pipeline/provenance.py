"""What shaped a saved model, and whether a later run may reuse it.

Every model a run saves (the dictionary, the classifier, an interpreter, L-MAC) gets a ``recipe`` in its
sidecar: the settings that shaped it. A later run reuses the model only when its own recipe is the same, and
otherwise retrains it with a message that names each setting that differed (``seed 0 → 1``), never silently:

* ``dataset``, ``preset``, ``classes``: what it was trained for;
* ``seed``: its training seed;
* ``epochs``: its budget (compared only when the caller asks for a budget: notebooks 04–08 reuse whatever
  budget notebook 02 or 03 trained with);
* ``clips_sha256``: the clips of the data folder (uid, split, labels and file size of each): another folder
  with other clips (other names, splits, labels or sizes) retrains, the same files in another place (another
  machine) do not; other audio of the very same size under the same names is not seen (reading every file
  would cost a pass over the data);
* ``code_sha256``: the code that trains it (:data:`TRAINING_CODE`: the presets, the front end, the networks,
  NMF and the training loops), so a change there retrains;
* and per kind: the dictionary's size, an explainer's classifier and dictionary (their sha256).

A sidecar written before recipes were recorded has none: its model is retrained once, and the message says so.
"""

from __future__ import annotations

import json
from pathlib import Path

from l2i_core._digest import TRAINING_CODE, clips_digest, code_digest

__all__ = ["TRAINING_CODE", "code_digest", "clips_digest", "recipe", "differences", "stamp_recipe",
           "recipe_mismatch"]

def recipe(cfg, dataset, *, seed: int | None = None, epochs: int | None = None, **extra) -> dict:
    """The settings that shape a model trained by ``cfg`` on ``dataset`` (see the module docstring).

    ``seed`` defaults to the run's; ``extra`` adds the kind's own settings (JSON values)."""
    out = {"dataset": dataset.name, "preset": cfg.preset.name, "classes": list(dataset.classes),
           "seed": int(cfg.seed if seed is None else seed), "epochs": None if epochs is None else int(epochs),
           "clips_sha256": clips_digest(dataset), "code_sha256": code_digest()}
    out.update(extra)
    return json.loads(json.dumps(out))


def _short(v) -> str:
    if isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v):
        return v[:12]
    if isinstance(v, list) and len(v) > 4:
        return f"{len(v)} entries"
    return repr(v)


_NAMES = {"clips_sha256": "clips (the data folder's files)", "code_sha256": "the code that trains it",
          "classifier_sha256": "classifier", "dictionary_sha256": "dictionary"}


def differences(saved: dict | None, want: dict, *, compare_epochs: bool = True) -> list[str]:
    """Each setting of ``want`` that the saved recipe records otherwise, as ``'seed 0 → 1'``; a setting wanted as
    None is not compared, nor ``epochs`` unless ``compare_epochs``.

    ``saved`` None (a sidecar written before recipes): ``['no recipe recorded (an older l2i)']``."""
    if not isinstance(saved, dict):
        return ["no recipe recorded (an older l2i)"]
    out = []
    for k, v in want.items():
        if v is None or (k == "epochs" and not compare_epochs):
            continue  # not asked for (a budget, a size, a file that is not there): not compared
        if saved.get(k) != v:
            name = _NAMES.get(k, k)
            if k == "classes":
                out.append("classes")
            else:
                out.append(f"{name} {_short(saved.get(k))} → {_short(v)}")
    return out


def recipe_mismatch(sidecar: dict, want: dict, *, compare_epochs: bool = True) -> str:
    """'' when ``sidecar``'s recipe is ``want``, else why not, in words (for the retraining message)."""
    diff = differences(sidecar.get("recipe"), want, compare_epochs=compare_epochs)
    return "" if not diff else "the saved one differs: " + ", ".join(diff)


def stamp_recipe(sidecar_path: str | Path, want: dict) -> None:
    """Add ``want`` as the ``recipe`` of the sidecar JSON at ``sidecar_path`` (written by the step that trained)."""
    path = Path(sidecar_path)
    meta = json.loads(path.read_text())
    meta["recipe"] = want
    path.write_text(json.dumps(meta, indent=2, default=float) + "\n")
