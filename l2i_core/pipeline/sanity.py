"""The randomisation sanity check of Adebayo et al. (2018) for every explainer, each judged against its own control.

An explanation that does not change when the model it explains is randomised does not explain the model.
:func:`sanity_study` explains clips ``x`` with every explainer, randomises f (its output layer; every layer:
:func:`~l2i_core.evaluate.harness.randomize_classifier`), explains the same clips and classes again, and
measures per clip how similar each new mask is to the original one (Spearman rank correlation,
:func:`~l2i_core.evaluate.harness.mask_rank_correlation`).

A similarity means nothing without the similarity the method reaches when nothing is randomised: that is
each method's **control**.

* A *trained* explainer (an L2I head, :class:`~l2i_core.explain.l2i.L2IExplainer`; L-MAC,
  :class:`~l2i_core.explain.lmac.LMACMask`; or any method given a ``trainers`` entry) is retrained for every
  row: its control is the same explainer trained with another training seed (``control_seed``) on the
  *unchanged* f, with the same recipe and the same budget (``epochs``: the recipe's by default) as the
  randomised rows, which retrain it with that seed on the randomised f. A control of that seed already on
  disk (:func:`~l2i_core.pipeline.steps.ensure_interpreter`, :func:`~l2i_core.pipeline.steps.ensure_lmac`,
  in :func:`~l2i_core.pipeline.steps.explainer_dir`) is reused when it was trained for this f with this
  budget.
* A method that needs no training (Saliency, Integrated Gradients, SmoothGrad, a random or fixed mask) is
  its own control: the same method, in the same state (its random generator too), on the same f
  (ρ = 1 for a deterministic method); the randomised rows are that method on the randomised f.

Every mask is compared with the mask of the explainer given (f unchanged, its own seed). Per method and
randomisation, a paired one-sided Wilcoxon signed-rank test per clip asks whether the randomised ρ is
lower than the control's (:func:`~l2i_core.evaluate.stats.paired_test`), Holm-corrected over the whole
table (:func:`~l2i_core.evaluate.stats.holm_table`); every cell gets its n and a percentile bootstrap
interval (:func:`~l2i_core.evaluate.stats.mean_cell`, none below n = 10). The verdict of a method
(:func:`judge_sanity`):

* **cannot judge** — fewer than :data:`~l2i_core.evaluate.stats.MIN_ROWS` clips with a finite ρ (no
  verdict), or a control whose mean ρ is below :data:`CONTROL_MIN_RHO` (retraining alone already changes
  the masks: the check cannot tell what randomising f changes);
* **passes** — for every randomisation, the randomised masks are significantly less similar than its
  control's (Holm-corrected one-sided p < ``alpha``);
* **fails** — for some randomisation they are not separated from its control.

The default budget is each trained explainer's full recipe (the epochs in its sidecar,
``interpreter_<head>.json`` / ``lmac.json``): on esc10 (cpu preset) 2 and 8 epochs left L2I's control at
ρ ≈ 0.09 and 0.08, where nothing can be judged; its recipe's 35 epochs give 0.37, L-MAC's 40 give 0.86
(the measurements are under :data:`CONTROL_MIN_RHO`). Three trainings per trained method (control,
output layer, all layers; the control reused from :func:`~l2i_core.pipeline.steps.explainer_dir` when the
comparison's second seed is there): about 2 × (62 + 283) s more than the control on an idle 2-core CPU for
L2I (attention) and L-MAC on esc10.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import shutil
import tempfile
import time
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from l2i_core._errors import ParameterError
from l2i_core.evaluate import stats
from l2i_core.evaluate.harness import mask_rank_correlation, randomize_classifier
from l2i_core.explain.interface import AudioModel, Explainer, clip_targets
from l2i_core.explain.l2i import L2IExplainer
from l2i_core.explain.lmac import LMACMask
from l2i_core.models.checkpoints import claim_resume_state, load_interpreter, load_lmac
from l2i_core.pipeline.steps import (
    default_interpreter_epochs,
    ensure_interpreter,
    ensure_lmac,
    explainer_dir,
    model_fingerprint,
    split_caches,
    train_interpreter_step,
)
from l2i_core.train.lmac import LMACConfig, train_lmac

__all__ = ["sanity_study", "judge_sanity", "sanity_sentences", "SanityStudy", "CONTROL_MIN_RHO", "SANITY_ALPHA",
           "RANDOMISATIONS", "SANITY_CONTROL", "SANITY_VERDICTS", "recipe_epochs"]

#: The least mean rank correlation a method's control must reach for the check to judge the method: a
#: medium correlation (Cohen's 0.3). Below it, retraining with another seed on the *same* f already gives
#: nearly unrelated masks (less than a tenth of their rank variance shared), so a low similarity on the
#: randomised f says nothing about f, and "not separated" would condemn the method unfairly.
#:
#: Controls measured on esc10 (cpu preset; the committed run's f, interpreters and L-MAC, seed 0, against
#: seed 1 retrained on the same f; the first 16 test clips, f's top class; mean ρ [95 % interval]; seconds
#: on the shared 2-core CPU under a load of about 5 busy processes, one torch thread; in brackets the
#: sidecars' seconds on an idle machine):
#:
#: ================  =========================  =========================  ===============================
#: budget            L2I (attention)            L-MAC                      seconds (L2I / L-MAC)
#: ================  =========================  =========================  ===============================
#: 2 epochs          0.09 [-0.04, 0.23]         0.57 [0.40, 0.72]          44 / 53     (4 / 14 idle)
#: 8 epochs          0.08 [-0.05, 0.22]         0.76 [0.68, 0.83]          116 / 172   (14 / 57 idle)
#: recipe (35 / 40)  0.37 [0.23, 0.48]          0.86 [0.83, 0.89]          300 / 1041  (62 / 283 idle)
#: ================  =========================  =========================  ===============================
#:
#: Only the recipe's budget makes L2I's control judgeable (two fully trained seeds share their masks'
#: ranking only moderately: 0.37; at a threshold of 0.5 L2I could not be judged at any budget measured);
#: L-MAC is stable at every budget. Hence the default budget: the recipe's. With it, the whole check of
#: those 16 clips (randomisation seed 1) gave: L2I (attention) passes (output layer 0.13, all layers 0.03;
#: Holm-corrected p = 0.032 and 0.0009), L-MAC passes (0.67, 0.50), Saliency, Integrated Gradients and
#: SmoothGrad pass (controls 1.00; all layers 0.13, 0.30, 0.34), the seeded random mask fails (1.00
#: throughout); 39 minutes on the loaded CPU, the two controls reused from ``seeds/seed-1``.
CONTROL_MIN_RHO = 0.3

#: Family-wise error rate of the Holm-corrected tests of one table.
SANITY_ALPHA = 0.05

#: The randomisations of f, in the cascade's order: what :func:`~l2i_core.evaluate.harness.randomize_classifier`
#: re-initialises → the label of the rows.
RANDOMISATIONS = {"output": "output layer", "all": "all layers"}

#: The label of the control rows.
SANITY_CONTROL = "none (control)"

#: The three verdicts of :func:`judge_sanity`.
SANITY_VERDICTS = ("passes", "fails", "cannot judge")

#: A trainer of a trained explainer: ``trainer(model, seed=..., epochs=...)`` → the explainer trained on
#: ``model``'s f with training seed ``seed`` and ``epochs`` epochs (None: its recipe's).
Trainer = Callable[..., Explainer]


@dataclass
class SanityStudy:
    """What :func:`sanity_study` measured and judged.

    Attributes
    ----------
    rho : pandas.DataFrame
        One row per (method, randomisation, clip): ``method``, ``randomised`` (:data:`SANITY_CONTROL` or a
        value of :data:`RANDOMISATIONS`), ``clip`` (index into ``x``), ``target`` (the class explained),
        ``rho`` (Spearman rank correlation with the original mask; NaN for a constant mask), ``trained``
        (whether the row's explainer was retrained), ``seed`` (its training seed, or None), ``epochs``
        (its training budget, or None), ``seconds`` (its training time; 0 when reused or untrained) and
        ``source`` (where it came from).
    table : pandas.DataFrame
        One row per (method, randomisation): ``rho`` (mean), ``low``, ``high`` (95 % percentile bootstrap,
        NaN below n = 10), ``n`` (clips with a finite ρ), ``interval``; the randomised rows also
        ``n_pairs``, ``median_difference`` (control ρ − randomised ρ, per clip), ``p_value`` (one-sided
        Wilcoxon), ``p_holm``, ``rejects``, ``family`` and ``separated`` (the row's own verdict);
        ``epochs``, ``seconds`` and ``source`` of its explainer.
    verdicts : pandas.DataFrame
        One row per method: ``method``, ``verdict`` (:data:`SANITY_VERDICTS`), ``reason``, ``control_rho``, ``n``.
    threshold, alpha : float
        :data:`CONTROL_MIN_RHO` and :data:`SANITY_ALPHA` as used.
    control_seed, randomization_seed : int
    budgets : dict
        Method → the epochs its retrainings ran (None: untrained, or a trainer's own recipe).
    notes : list of str
        Where each control came from, what was left out and why.
    seconds : float
        The whole study, wall clock.
    """

    rho: pd.DataFrame
    table: pd.DataFrame
    verdicts: pd.DataFrame
    threshold: float = CONTROL_MIN_RHO
    alpha: float = SANITY_ALPHA
    control_seed: int | None = None
    randomization_seed: int | None = None
    budgets: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    seconds: float = 0.0

    def verdict(self, method: str) -> str:
        """The verdict of ``method`` (one of :data:`SANITY_VERDICTS`)."""
        row = self.verdicts[self.verdicts["method"] == method]
        if row.empty:
            raise ParameterError(f"no verdict for {method!r}; the study judged {self.verdicts['method'].tolist()}")
        return str(row["verdict"].iloc[0])

    def record(self) -> dict:
        """The study as JSON-ready values (``results.json``): the table, the verdicts and the settings."""
        def clean(df: pd.DataFrame) -> list[dict]:
            return json.loads(df.to_json(orient="records"))  # NaN -> None, numpy scalars -> numbers

        return {"table": clean(self.table), "verdicts": clean(self.verdicts), "threshold": self.threshold,
                "alpha": self.alpha, "control_seed": self.control_seed,
                "randomization_seed": self.randomization_seed, "budgets": dict(self.budgets),
                "notes": list(self.notes), "seconds": round(float(self.seconds), 1),
                "labels": {"control": SANITY_CONTROL, **RANDOMISATIONS}}


# -- budgets ------------------------------------------------------------------------------------------------
def _sidecar_epochs(path: Path) -> int | None:
    """The epochs a trained explainer's sidecar records (its configuration's, else its history's), or None."""
    if not path.is_file():
        return None
    m = json.loads(path.read_text())
    epochs = (m.get("config") or {}).get("epochs")
    if epochs is None and m.get("history"):
        epochs = len(m["history"])
    return None if epochs is None else int(epochs)


def _sidecar_name(ex: Explainer) -> str:
    if isinstance(ex, L2IExplainer):
        return f"interpreter_{ex.interpreter.pooling}.json"
    return "lmac.json"


def recipe_epochs(cfg, dataset, explainer: Explainer) -> int:
    """The full training recipe's epochs of a trained explainer of the run ``cfg``: the epochs recorded in
    its sidecar in ``cfg.artifacts_dir`` (``interpreter_<head>.json``, ``lmac.json``), else what
    :func:`~l2i_core.pipeline.steps.ensure_interpreter` / :func:`~l2i_core.pipeline.steps.ensure_lmac` would
    train (a quick run's ``interpreter_epochs``).

    Raises
    ------
    ParameterError
        If ``explainer`` is neither an L2I head nor L-MAC.
    """
    if not isinstance(explainer, (L2IExplainer, LMACMask)):
        raise ParameterError(f"{explainer.name}: only L2I heads and L-MAC have a training recipe here")
    found = _sidecar_epochs(Path(cfg.artifacts_dir) / _sidecar_name(explainer))
    if found is not None:
        return found
    default = default_interpreter_epochs(dataset.multilabel) if isinstance(explainer, L2IExplainer) else LMACConfig.epochs
    return int(cfg.size("interpreter_epochs", default))


def _budget(epochs, name: str) -> int | None:
    """The epochs of method ``name`` from the ``epochs`` argument (None, an int, or a dict by method)."""
    e = epochs.get(name) if isinstance(epochs, Mapping) else epochs
    if e is None:
        return None
    if isinstance(e, bool) or not isinstance(e, (int, np.integer)) or int(e) < 1:
        raise ParameterError(f"epochs for {name} must be a positive int (or None: the recipe's), got {e!r}")
    return int(e)


# -- the built-in retraining of L2I and L-MAC ----------------------------------------------------------------
def _variant_model(model: AudioModel, classifier) -> AudioModel:
    """``model`` with another f: the same front end, decisions and classes."""
    own_input = model.input_fn == model.fe.logmel
    return AudioModel(classifier, model.preset, multilabel=model.multilabel, f_thresholds=model.f_thresholds,
                      classes=model.classes, device=str(model.device), batch_size=model.batch_size,
                      input_fn=None if own_input else model.input_fn, n_classes=model.n_classes)


class _Retrainer:
    """Retrains L2I heads and L-MAC on one f at a time, as notebooks 03 and 08 train them.

    :meth:`caches` builds f's train / validation activation caches once per f (with the run's artifacts for
    the unchanged f, so a cache on disk is reused; in a scratch folder for a randomised f, never over the
    run's), only when a training needs them. A retraining on a randomised f of the run's own f is kept in
    ``<artifacts>/sanity/<part>/seed-<s>/`` (:func:`sanity_dir`) and reused when its sidecar records the same
    randomised f, dictionary and epochs, and an interrupted one resumes there: a run stopped in the
    sanity check loses at most the epoch in progress. Other trainings run in the scratch folder, removed by
    :meth:`close`.
    """

    def __init__(self, cfg, dataset, model: AudioModel, *, progress: bool):
        self.cfg, self.dataset, self.progress = cfg, dataset, progress
        self.scratch = Path(tempfile.mkdtemp(prefix="l2i-sanity-"))
        self._caches: tuple[str, dict] | None = None
        clf_path = Path(cfg.artifacts_dir) / "classifier.pt"
        self.same_f_on_disk = False
        if clf_path.is_file():  # reuse needs the run's f to be the f explained here
            from l2i_core.models.checkpoints import load_classifier

            disk, _ = load_classifier(clf_path)
            self.same_f_on_disk = model_fingerprint(disk) == model_fingerprint(model.classifier)

    def caches(self, model: AudioModel, randomised: bool, key: str) -> dict:
        """f's train and validation caches; ``key`` names the f (one at a time is kept)."""
        if self._caches is None or self._caches[0] != key:
            self._caches = None  # the previous f's caches go first
            where = dataclasses.replace(self.cfg, artifacts_dir=self.scratch / "caches") if randomised else self.cfg
            self._caches = (key, split_caches(where, self.dataset, model.classifier, ("train", "validation"),
                                              progress=False))
        return self._caches[1]

    def _reusable(self, ex: Explainer, seed: int, epochs: int, recipe: int) -> tuple[bool, bool, str]:
        """Whether the control of ``seed`` comes from :func:`explainer_dir` (reused when it was trained for this
        f, else trained and saved there by ``ensure_*``: only with the recipe's budget), whether a sidecar
        of it is there, and why not."""
        if not self.same_f_on_disk:
            return False, False, "the f explained is not the run's classifier.pt"
        on_disk = _sidecar_epochs(explainer_dir(self.cfg, seed) / _sidecar_name(ex))
        if epochs != recipe:  # only the recipe's explainers live in explainer_dir
            return False, on_disk is not None, f"{epochs} epochs are not the recipe's {recipe}: kept in memory only"
        if on_disk is not None and on_disk != epochs:
            return False, True, f"seed {seed} on disk was trained for {on_disk} epochs, not {epochs}"
        return True, on_disk is not None, ""

    def train(self, ex: Explainer, model: AudioModel, *, part: str, seed: int, epochs: int,
              recipe: int) -> tuple[Explainer, str]:
        """``ex`` trained with ``seed`` for ``epochs`` on ``model``'s f (``part``: ``'control'`` for the
        unchanged f, else what was randomised), and where it came from."""
        cfg = self.cfg
        randomised = part != "control"
        clf_meta = {"thresholds": list(model.f_thresholds) if model.multilabel else None}
        reuse, on_disk, why = (False, False, "") if randomised else self._reusable(ex, seed, epochs, recipe)
        caches = (lambda: None) if reuse and on_disk else (lambda: self.caches(model, randomised, part))
        keep = sanity_dir(cfg, part, seed) if randomised and self.same_f_on_disk else None
        if keep is not None:
            found, kept = self._kept(ex, keep, model, epochs)
            if found is not None:
                return found, kept
            claim_resume_state(keep / _sidecar_name(ex).replace(".json", "_last.pt"), self._key(ex, model, epochs))
        if isinstance(ex, L2IExplainer):
            pooling = ex.interpreter.pooling
            if reuse:
                got, msg = ensure_interpreter(cfg, self.dataset, pooling, epochs=epochs, seed=seed,
                                              progress=self.progress, caches=caches())
                interpreter = got.interpreter
            else:
                run = dataclasses.replace(cfg, seed=int(seed))
                dictionary = types.SimpleNamespace(W=ex.W.detach().cpu().numpy())  # the explainer's own atoms
                res = train_interpreter_step(run, self.dataset, pooling, dictionary, caches(),
                                             clf_meta, epochs=epochs, progress=self.progress,
                                             out_dir=keep if keep is not None else self.scratch / "train",
                                             extra_meta=self._key(ex, model, epochs) if keep is not None else None,
                                             resume=keep is not None, record_recipe=False)
                interpreter = res.interpreter
                msg = _trained_here(len(res.history), why)
            return _like(ex, model, interpreter), msg
        if reuse:
            decoder, _, msg = ensure_lmac(cfg, self.dataset, epochs=epochs, seed=seed, progress=self.progress,
                                          caches=caches())
        else:
            config = LMACConfig(seed=int(seed), progress=self.progress)
            config.epochs = int(cfg.size("interpreter_epochs", epochs))
            built = caches()
            res = train_lmac(built["train"], built["validation"], model.classifier, cfg.preset,
                             multilabel=model.multilabel, f_thresholds=clf_meta["thresholds"], config=config,
                             out_dir=keep, resume=keep is not None,
                             meta=self._key(ex, model, epochs) if keep is not None else None)
            decoder = res.decoder
            msg = _trained_here(len(res.history), why)
        return _like(ex, model, decoder), msg

    @staticmethod
    def _key(ex: Explainer, model: AudioModel, epochs: int) -> dict:
        """What a kept retraining was trained for: the randomised f, the atoms (L2I) and the epochs."""
        key = {"sanity_f_sha256": model_fingerprint(model.classifier), "sanity_epochs": int(epochs)}
        if isinstance(ex, L2IExplainer):
            w = np.ascontiguousarray(ex.W.detach().cpu().numpy(), dtype=np.float32)
            key["sanity_dictionary_sha256"] = hashlib.sha256(w.tobytes()).hexdigest()
        return key

    def _kept(self, ex: Explainer, keep: Path, model: AudioModel, epochs: int) -> tuple[Explainer | None, str]:
        """The retraining kept in ``keep`` when its sidecar records this very request, else ``(None, '')``."""
        side = keep / _sidecar_name(ex)
        if not side.is_file():
            return None, ""
        try:
            meta = json.loads(side.read_text())
        except ValueError:
            return None, ""
        key = self._key(ex, model, epochs)
        if any(meta.get(k) != v for k, v in key.items()):
            return None, ""
        trained, _ = (load_interpreter(keep / side.name.replace(".json", ".pt"), device=model.device)
                      if isinstance(ex, L2IExplainer) else load_lmac(keep, device=model.device))
        return _like(ex, model, trained), f"reused the retraining kept in {keep} ({epochs} epochs)"

    def close(self) -> None:
        self._caches = None
        shutil.rmtree(self.scratch, ignore_errors=True)


def _like(ex: Explainer, model: AudioModel, trained) -> Explainer:
    """``ex``'s method with the same settings, on ``model``'s f, with ``trained`` (an interpreter for L2I, a decoder
    for L-MAC)."""
    if isinstance(ex, L2IExplainer):
        return L2IExplainer(model, trained, layer_names=ex.tap.layer_names, eps=ex.eps, tau=ex.tau,
                            top_k=ex.top_k, detail=False, name=ex.name)
    return LMACMask(trained, model, name=ex.name)


def sanity_dir(cfg, part: str, seed: int) -> Path:
    """Where the sanity check keeps a retraining on f randomised at ``part`` with training seed ``seed``."""
    return Path(cfg.artifacts_dir) / "sanity" / str(part) / f"seed-{int(seed)}"


def _trained_here(epochs: int, why: str) -> str:
    return f"trained here for {epochs} epoch{'s' * (epochs != 1)}" + (f" ({why})" if why else "")


def _untrained_copy(ex: Explainer) -> Explainer:
    """``ex`` in its current state (its random generator too), sharing its model: what each row of an
    untrained method starts from, so that the control repeats the original draw exactly."""
    return copy.deepcopy(ex, memo={id(ex.model): ex.model})


# -- the study ----------------------------------------------------------------------------------------------
def sanity_study(cfg, dataset, model: AudioModel, explainers: Sequence[Explainer], *, x, targets=None,
                 n_clips: int | None = 16, epochs: int | Mapping | None = None, control_seed: int | None = None,
                 randomization_seed: int | None = None, stems=None, trainers: Mapping[str, Trainer] | None = None,
                 threshold: float = CONTROL_MIN_RHO, alpha: float = SANITY_ALPHA,
                 progress: bool = True) -> SanityStudy:
    """Adebayo et al. (2018)'s randomisation check of every explainer, each judged against its own control
    (see the module docstring).

    Parameters
    ----------
    cfg : RunConfig
        The run: its ``artifacts_dir`` (f, the trained explainers and their other seeds), ``seed``, preset,
        quick sizes and memory budget.
    dataset : AudioDataset
        Its train and validation splits retrain the trained explainers (multi-class or multi-label).
    model : AudioModel
        f, the model every explainer explains.
    explainers : sequence of Explainer
        Every method to judge, each on ``model``, with distinct names. A method needing stems (the oracle)
        needs ``stems``. Several training seeds of one method (``training_seed``, as
        :func:`~l2i_core.pipeline.explainer_study.build_explainers` gives them): the run's seed is judged,
        the one of ``control_seed`` is its control when the budget is the recipe's, the others are left out.
    x : array [shape=(B, n_samples)]
        The clips explained; the first ``n_clips`` are used.
    targets : None, int or sequence of B ints
        The class explained in each clip (the same in every row); None: f's top class (also for a
        multi-label f: one row per clip).
    n_clips : int or None
        Clips of ``x`` compared (None or 0: all). A method's verdict needs at least
        :data:`~l2i_core.evaluate.stats.MIN_ROWS` clips with a finite ρ.
    epochs : None, int, or dict of method name → int or None
        The retraining budget of the trained explainers, the same for the control and the randomised
        rows. None: each one's full recipe (:func:`recipe_epochs`), the default: the only budget measured
        that keeps L2I's control judgeable on esc10 (ρ = 0.37 at 35 epochs, 0.08 at 8, 0.09 at 2; see
        :data:`CONTROL_MIN_RHO`). A quick run caps it (``interpreter_epochs``), as it caps every training.
    control_seed : int or None
        Training seed of the controls and of the retrainings on the randomised f; default ``cfg.seed + 1``
        (the comparison's second seed, :func:`~l2i_core.pipeline.steps.explainer_seeds`). It must differ
        from ``cfg.seed``, the seed of the explainers given.
    randomization_seed : int or None
        Seed of the randomised weights; default ``cfg.seed + 1``.
    stems : array [shape=(B, n_samples)] or None
        True stems of ``x``, for explainers that need them; without it they are left out (a note says so).
    trainers : dict of method name → callable, optional
        Trained explainers beyond L2I and L-MAC (or another way to train those): ``trainer(model,
        seed=s, epochs=e)`` returns the method trained on ``model``'s f (an AudioModel) with seed ``s``
        and ``e`` epochs (None: its own recipe).
    threshold : float
        A control whose mean ρ is below it cannot judge its method (:data:`CONTROL_MIN_RHO`).
    alpha : float in (0, 1)
        Family-wise error rate of the Holm-corrected tests (:data:`SANITY_ALPHA`).
    progress : bool

    Returns
    -------
    SanityStudy
        Per-clip correlations, the table with its tests, the verdicts (:func:`sanity_sentences` reads them).

    Raises
    ------
    ParameterError
        Bad ``x``, ``targets``, ``n_clips``, ``epochs``, seeds, ``trainers`` names, or no explainer to judge.
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or not len(x):
        raise ParameterError(f"x must be a (clips, samples) batch of waveforms, got shape {x.shape}")
    if n_clips is not None and (isinstance(n_clips, bool) or int(n_clips) < 0):
        raise ParameterError(f"n_clips must be a positive int (or None / 0: every clip of x), got {n_clips!r}")
    n = len(x) if not n_clips else min(int(n_clips), len(x))
    given_targets = targets
    x = x[:n]
    stems = None if stems is None else np.asarray(stems, dtype=np.float32)[:n]
    if given_targets is None:
        t = model.logits(x).argmax(1).cpu().numpy().astype(np.int64)  # f's top class, multi-label too
    else:
        t_all = np.asarray(given_targets)
        t = clip_targets(t_all if t_all.size == 1 else t_all.reshape(-1)[:n], n, model.n_classes)
    trainers = dict(trainers or {})
    s_ctrl = int(cfg.seed) + 1 if control_seed is None else int(control_seed)
    s_rand = int(cfg.seed) + 1 if randomization_seed is None else int(randomization_seed)
    notes: list[str] = []
    judged, given_controls = [], {}
    for e in explainers:
        seed_e = getattr(e, "training_seed", None)  # several seeds of one method (build_explainers(seeds=...))
        if seed_e is not None and int(seed_e) != int(cfg.seed):
            if int(seed_e) == s_ctrl:
                given_controls[e.name] = e
            else:
                notes.append(f"{e.name} of seed {seed_e} not used: the check judges seed {cfg.seed} against seed {s_ctrl}")
        elif e.needs_stems and stems is None:
            notes.append(f"{e.name} left out: it needs the true stems (stems=)")
        else:
            judged.append(e)
    names = [e.name for e in judged]
    if len(set(names)) != len(names):
        raise ParameterError(f"explainers must have distinct names (or distinct training_seed), got {names}")
    if not judged:
        raise ParameterError("no explainer to judge: give at least one (one needing stems needs stems=)")
    unknown = sorted(set(trainers) - set(names))
    if unknown:
        raise ParameterError(f"trainers for {unknown}, which are not among the explainers {names}")
    trained = {e.name for e in judged if e.name in trainers or isinstance(e, (L2IExplainer, LMACMask))}
    if trained and s_ctrl == int(cfg.seed):
        raise ParameterError(f"control_seed={s_ctrl} is the run's seed, the seed of the explainers given: "
                             "the control needs another training seed")
    budgets, recipes = {}, {}
    for e in judged:
        if e.name in trained:
            b = _budget(epochs, e.name)
            if e.name not in trainers:
                recipes[e.name] = recipe_epochs(cfg, dataset, e)
                b = recipes[e.name] if b is None else b
            budgets[e.name] = b
        else:
            budgets[e.name] = None
    for name in list(given_controls):  # a control of seed s given: used when trained with the recipe's budget
        if name not in trained or budgets[name] != recipes.get(name):
            given_controls.pop(name)
            notes.append(f"{name} of seed {s_ctrl} given but not used: "
                         + ("the method needs no training" if name not in trained else
                            f"the budget is {budgets[name]} epochs, not the recipe's"))
    stems_kw = {} if stems is None else {"stems": stems}

    states = {e.name: [_untrained_copy(e) for _ in range(1 + len(RANDOMISATIONS))]
              for e in judged if e.name not in trained}  # before the originals draw
    base = {e.name: e.attribute(x, t, with_audio=False, **stems_kw).mask for e in judged}
    retrainer = _Retrainer(cfg, dataset, model, progress=False) if trained - set(trainers) else None
    rows = []
    parts = [("control", SANITY_CONTROL), *RANDOMISATIONS.items()]
    jobs = [(k, part, label, e) for k, (part, label) in enumerate(parts) for e in judged]
    try:
        current = (None, model)
        for k, part, label, e in tqdm(jobs, desc="sanity check", disable=not progress):
            if current[0] != part:
                f = model.classifier if part == "control" else randomize_classifier(model.classifier, part,
                                                                                    seed=s_rand)
                if part != "control" and model_fingerprint(f) == model_fingerprint(model.classifier):
                    raise ParameterError(f"randomising f's {RANDOMISATIONS[part]} with seed {s_rand} gave f's own "
                                         "weights (an untrained f of that seed?): pass another randomization_seed")
                current = (part, model if part == "control" else _variant_model(model, f))
            m = current[1]
            secs, seed, source = 0.0, None, "the same method, same state"
            if e.name in trained:
                seed, start = s_ctrl, time.perf_counter()
                if part == "control" and e.name in given_controls:
                    variant, source = given_controls[e.name], f"the explainer of seed {s_ctrl} given"
                elif e.name in trainers:
                    variant = trainers[e.name](m, seed=s_ctrl, epochs=budgets[e.name])
                    source = "the trainer given"
                else:
                    variant, source = retrainer.train(e, m, part=part, seed=s_ctrl,
                                                      epochs=budgets[e.name], recipe=recipes[e.name])
                secs = time.perf_counter() - start
            else:
                variant = states[e.name][k]
                variant.model = m
            mask = variant.attribute(x, t, with_audio=False, **stems_kw).mask
            del variant
            r = mask_rank_correlation(base[e.name], mask)
            for i in range(n):
                rows.append({"method": e.name, "randomised": label, "clip": i, "target": int(t[i]), "rho": float(r[i]),
                             "trained": e.name in trained, "seed": seed, "epochs": budgets[e.name],
                             "seconds": secs, "source": source})
            if part == "control" and e.name in trained:
                notes.append(f"{e.name}: control of seed {s_ctrl}: {source}")
    finally:
        if retrainer is not None:
            retrainer.close()
    rho = pd.DataFrame(rows)
    table, verdicts = judge_sanity(rho, threshold=threshold, alpha=alpha)
    return SanityStudy(rho=rho, table=table, verdicts=verdicts, threshold=float(threshold), alpha=float(alpha),
                       control_seed=s_ctrl, randomization_seed=s_rand, budgets=budgets, notes=notes,
                       seconds=time.perf_counter() - t0)


# -- the judgement ------------------------------------------------------------------------------------------
def judge_sanity(rho: pd.DataFrame, *, threshold: float = CONTROL_MIN_RHO,
                 alpha: float = SANITY_ALPHA) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The table and the verdicts of per-clip rank correlations (:attr:`SanityStudy.rho`).

    Per method, each randomisation's ρ is paired clip by clip with the control's: a one-sided Wilcoxon
    signed-rank test of ``control − randomised > 0`` (:func:`~l2i_core.evaluate.stats.paired_test`; not run
    below :data:`~l2i_core.evaluate.stats.MIN_ROWS` pairs), Holm-corrected over every test of the table
    (:func:`~l2i_core.evaluate.stats.holm_table`). Each cell: :func:`~l2i_core.evaluate.stats.mean_cell`.
    A method **cannot be judged** below ``MIN_ROWS`` clips (in its control or in a pair) or when its
    control's mean ρ is below ``threshold``; it **passes** when every randomisation's corrected test
    rejects, and **fails** otherwise.

    Parameters
    ----------
    rho : pandas.DataFrame
        Columns ``method``, ``randomised`` (:data:`SANITY_CONTROL` or a value of :data:`RANDOMISATIONS`),
        ``clip``, ``rho``; optional ``epochs``, ``seconds``, ``source``, ``trained``, ``seed``.
    threshold : float
        The least mean ρ of a control that can judge (:data:`CONTROL_MIN_RHO`).
    alpha : float in (0, 1)

    Returns
    -------
    table : pandas.DataFrame
        As :attr:`SanityStudy.table`.
    verdicts : pandas.DataFrame
        As :attr:`SanityStudy.verdicts`.

    Raises
    ------
    ParameterError
        A missing column, a method without a control, or ``threshold`` / ``alpha`` out of range.

    Examples
    --------
    >>> clips = np.arange(12)
    >>> df = pd.DataFrame({"method": "m", "randomised": [SANITY_CONTROL] * 12 + ["all layers"] * 12,
    ...                    "clip": np.r_[clips, clips], "rho": np.r_[np.full(12, 0.9), np.linspace(0, 0.2, 12)]})
    >>> table, verdicts = judge_sanity(df)
    >>> verdicts[["method", "verdict"]].values.tolist()
    [['m', 'passes']]
    """
    missing = [c for c in ("method", "randomised", "clip", "rho") if c not in getattr(rho, "columns", ())]
    if missing:
        raise ParameterError(f"rho has no column(s) {missing}; pass SanityStudy.rho")
    if not (isinstance(threshold, (int, float, np.number)) and -1 <= float(threshold) <= 1):
        raise ParameterError(f"threshold must be a rank correlation in [-1, 1], got {threshold!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.number)) or not 0 < alpha < 1:
        raise ParameterError(f"alpha must lie in (0, 1), e.g. 0.05, got {alpha!r}")
    methods = list(dict.fromkeys(rho["method"]))
    order = [SANITY_CONTROL, *RANDOMISATIONS.values()]
    cells, tests = [], []
    for m in methods:
        d = rho[rho["method"] == m]
        labels = list(dict.fromkeys(d["randomised"]))
        if SANITY_CONTROL not in labels:
            raise ParameterError(f"{m} has no control rows ({SANITY_CONTROL!r}); every method needs its own control")
        labels = sorted(labels, key=lambda v: order.index(v) if v in order else len(order))
        ctrl = d[d["randomised"] == SANITY_CONTROL].set_index("clip")["rho"]
        for label in labels:
            g = d[d["randomised"] == label]
            cell = stats.mean_cell(g["rho"].to_numpy(dtype=np.float64))
            row = {"method": m, "randomised": label, "rho": cell["estimate"], "low": cell["low"],
                   "high": cell["high"], "n": cell["n"], "interval": cell["method"]}
            for extra in ("epochs", "seconds", "source"):
                if extra in g.columns:
                    v = g[extra].iloc[0]
                    row[extra] = None if v is None or (isinstance(v, float) and math.isnan(v)) else v
            if label != SANITY_CONTROL:
                rand = g.set_index("clip")["rho"]
                both = pd.concat([ctrl, rand], axis=1, join="inner").to_numpy(dtype=np.float64)
                ok = np.isfinite(both).all(axis=1)
                a, b = both[ok, 0], both[ok, 1]
                row["n_pairs"] = int(ok.sum())
                row["median_difference"] = float(np.median(a - b)) if ok.any() else math.nan
                if ok.sum() >= stats.MIN_ROWS:
                    row["p_value"] = stats.paired_test(a, b, alternative="greater")["p_value"]
                else:
                    row["p_value"] = math.nan
                tests.append(len(cells))
            cells.append(row)
    table = pd.DataFrame(cells)
    for col in ("n_pairs", "median_difference", "p_value"):
        if col not in table.columns:
            table[col] = math.nan
    table["p_holm"], table["rejects"], table["family"] = math.nan, None, 0
    table["rejects"] = table["rejects"].astype(object)
    if tests:
        corrected = stats.holm_table(table.loc[tests, ["p_value"]].reset_index(drop=True), alpha)
        for j, idx in enumerate(tests):
            table.at[idx, "p_holm"] = float(corrected["p_holm"].iloc[j])
            table.at[idx, "rejects"] = bool(corrected["rejects"].iloc[j])
            table.at[idx, "family"] = int(corrected["family"].iloc[j])
    verdicts, separated = [], {}
    for m in methods:
        t = table[table["method"] == m]
        c = t[t["randomised"] == SANITY_CONTROL].iloc[0]
        rand = t[t["randomised"] != SANITY_CONTROL]
        n_min = int(min([c["n"], *rand["n_pairs"].astype(int).tolist()]))
        cmean = f"{c['rho']:.2f}" if np.isfinite(c["rho"]) else "undefined"
        if rand.empty:
            verdict, reason = "cannot judge", "f was never randomised (no randomised row)"
        elif n_min < stats.MIN_ROWS:
            verdict, reason = "cannot judge", f"n = {n_min} < {stats.MIN_ROWS} clips with a finite ρ: no verdict"
        elif not c["rho"] >= threshold:
            verdict, reason = "cannot judge", (f"its control is unstable (mean ρ = {cmean} < {threshold:g} on the "
                                               "same f), so what randomising f changes cannot be told from what "
                                               "retraining alone changes")
        else:
            bad = rand[~rand["rejects"].astype(bool)]
            if bad.empty:
                p = float(rand["p_holm"].max())
                verdict, reason = "passes", ("randomising f makes its masks less similar than its control's "
                                             f"(one-sided Wilcoxon, Holm-corrected p ≤ {p:.2g}, n = {n_min} clips)")
            else:
                where = {"output layer": "at the output layer", "all layers": "at all layers"}
                which = " and ".join(f"{where.get(r['randomised'], 'at ' + str(r['randomised']))} (Holm-corrected "
                                     f"p = {r['p_holm']:.2g})" for _, r in bad.iterrows())
                verdict, reason = "fails", (f"its masks are not significantly less similar than its control's with f "
                                            f"randomised {which}, n = {n_min} clips: this check does not show that "
                                            "they follow what f computes (not separated is not proof of the "
                                            "contrary; more clips give the test more power)")
        for idx in rand.index:
            separated[idx] = (verdict != "cannot judge") and bool(table.at[idx, "rejects"])
        verdicts.append({"method": m, "verdict": verdict, "reason": reason, "control_rho": float(c["rho"]),
                         "n": n_min})
    table["separated"] = pd.Series(separated, dtype=object).reindex(table.index)
    return table, pd.DataFrame(verdicts)


def sanity_sentences(study: SanityStudy) -> list[str]:
    """One sentence per method: its verdict and why, read from :attr:`SanityStudy.verdicts` and its table.

    Parameters
    ----------
    study : SanityStudy

    Returns
    -------
    list of str
        E.g. ``"Saliency passes: every randomisation separated from its control (...)"``.
    """
    if not isinstance(study, SanityStudy):
        raise ParameterError(f"sanity_sentences reads a SanityStudy (sanity_study's result), got {type(study).__name__}")
    out = []
    for _, v in study.verdicts.iterrows():
        t = study.table[study.table["method"] == v["method"]]
        c = t[t["randomised"] == SANITY_CONTROL].iloc[0]
        epochs = study.budgets.get(v["method"])
        was_trained = "trained" in study.rho.columns and bool(
            study.rho.loc[study.rho["method"] == v["method"], "trained"].iloc[0])
        if was_trained:
            control = f"retrained with seed {study.control_seed} on the same f" + (
                "" if epochs is None else f", {int(epochs)} epochs")
        else:
            control = "the same method again on the same f"
        cells = [f"control ({control}) {stats.format_ci(c['rho'], c['low'], c['high'], digits=2)}"]
        cells += [f"{r['randomised']} randomised {stats.format_ci(r['rho'], r['low'], r['high'], digits=2)}"
                  for _, r in t[t["randomised"] != SANITY_CONTROL].iterrows()]
        out.append(f"{v['method']} {v['verdict']}: {v['reason']}. ρ with its original masks: {'; '.join(cells)}.")
    return out
