"""Run parameters: the notebooks' shared parameters, validated once into a :class:`RunConfig`, and the
sizes of a quick run, decided here and nowhere else.

>>> cfg = run_config(dataset="esc10", quick=True)       # doctest: +SKIP
>>> cfg.size("classifier_epochs", 40)                    # doctest: +SKIP
2

A full run uses the value it is given (a notebook parameter or a library default); a quick run
(``quick=True``, the tests and ``l2i reproduce --quick``) replaces it by :data:`QUICK_SIZES`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from l2i_core._errors import ParameterError
from l2i_core._memory import memory_budget_gb
from l2i_core.config import Preset, get_preset
from l2i_core.data import DATASETS, load_dataset

__all__ = ["RunConfig", "run_config", "SHARED_PARAMETERS", "QUICK_SIZES", "PRESET_PARAMETERS", "notebook_parameters", "project_dir", "project_path",
           "project_relative", "from_here", "PROJECT_ENV"]

#: The parameters every notebook exposes (checked by a test with ``papermill.inspect_notebook``).
SHARED_PARAMETERS = ("dataset", "data_dir", "preset", "seed", "quick", "artifacts_dir")

#: The environment variable naming the l2i project folder, where ``artifacts/`` and ``reports/`` live
#: (:func:`project_dir`).
PROJECT_ENV = "L2I_PROJECT"

#: The source checkout this package was imported from (``<checkout>/l2i_core/pipeline/run.py``).
_CHECKOUT = Path(__file__).resolve().parents[2]


def _is_project(d: Path) -> bool:
    """An l2i checkout: ``pyproject.toml``, ``l2i_core/`` and ``notebooks/`` side by side."""
    return (d / "pyproject.toml").is_file() and (d / "l2i_core").is_dir() and (d / "notebooks").is_dir()


def project_dir() -> Path:
    """The l2i project folder, in which the default ``artifacts/`` and ``reports/`` live.

    The same folder whatever the working directory: a notebook opened from ``notebooks/`` in JupyterLab,
    ``papermill --cwd notebooks``, ``make reproduce`` at the root and ``l2i`` run from any folder all find
    the same artifacts. In order:

    1. ``$L2I_PROJECT`` when set;
    2. the nearest folder at or above the working directory that is an l2i checkout (``pyproject.toml``,
       ``l2i_core/`` and ``notebooks/``);
    3. the checkout this package was imported from (an editable install);
    4. the working directory.

    Returns
    -------
    Path
        Absolute.
    """
    env = os.environ.get(PROJECT_ENV, "").strip()
    if env:
        return Path(env).expanduser().resolve()
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if _is_project(d):
            return d
    return _CHECKOUT if _is_project(_CHECKOUT) else here


def project_path(path, default: str) -> Path:
    """``path`` as the run uses it: ``project_dir() / default`` when empty, a relative path taken from the
    project folder (so a parameter means the same folder from any working directory), an absolute one as is."""
    if path in (None, ""):
        return project_dir() / default
    p = Path(path).expanduser()
    return p if p.is_absolute() else project_dir() / p


def from_here(path: Path) -> Path:
    """``path`` as short as the working directory allows: relative when inside it (``make reproduce`` at the
    project's root keeps ``artifacts/esc10-cpu`` in every message and report, as before), else absolute (a
    notebook run from ``notebooks/``). The same folder either way, as long as the run does not change directory."""
    p = Path(path)
    try:
        return p.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return p.resolve()


def project_relative(path) -> str:
    """``path`` relative to :func:`project_dir` when inside it (what records store: no machine's folder
    names in a committed report), else absolute."""
    p = Path(path).expanduser().resolve()
    try:
        return p.relative_to(project_dir()).as_posix()
    except ValueError:
        return str(p)

#: Every size a quick run changes, by name; :meth:`RunConfig.size` reads them.
QUICK_SIZES: dict = {
    "clips": 24,  # clips kept of each dataset (ds.head), all splits together
    "urbanmix_scenes": {"train": 24, "validation": 8, "test": 8},
    "dictionary_max_iter": 30,
    "dictionary_max_clips": 16,
    "classifier_epochs": 2,
    "interpreter_epochs": 2,
    "atom_examples": 3,  # atoms played in notebook 01
    "atom_max_clips": 6,
    "activation_plots": 2,  # test clips whose activations notebook 03 plots
    "stem_examples": 1,
    "spectrogram_examples": 4,  # clips whose spectrograms notebook 00 draws  # urbanmix scenes whose stems notebook 00 plays
    "curve_steps": 3,  # deletion / insertion steps
    "mixture_pairs": 6,  # random mixture pairs of notebook 06
    "mixtures_per_kind": 2,  # pairs of each of the paper's kinds
    "baseline_pairs": 2,  # pairs scored with the gradient baselines
    "scenes": 4,  # urbanmix test scenes scored against their stems
    "compare_clips": 4,  # test clips (or scenes) of notebook 08's comparison
    "sanity_clips": 3,  # clips whose masks notebook 08's sanity check compares
    "explainer_seeds": 2,  # training seeds of each trained explainer in notebook 08 (full run: 3)
}


#: Notebook parameters the pipeline passes in a *full* run of a preset, by notebook-name prefix. Empty:
#: every notebook runs its full protocol on every preset (the aiSFX run's cuts went when the default run
#: moved to EfficientAT mn04, which costs about what the from-scratch CNN does). Kept as the one place
#: such an override would go, shown in the executed notebooks' injected-parameters cell.
PRESET_PARAMETERS: dict = {}


def notebook_parameters(notebook: str, preset: str, *, quick: bool) -> dict:
    """The :data:`PRESET_PARAMETERS` of ``notebook`` (a file name such as ``08_compare_explainers.ipynb``)
    for a full run of ``preset`` (none in a quick run: :data:`QUICK_SIZES` decide there)."""
    if quick:
        return {}
    return dict(PRESET_PARAMETERS.get(preset, {}).get(Path(notebook).name[:2], {}))


@dataclass(frozen=True)
class RunConfig:
    """Validated notebook parameters. Build it with :func:`run_config`."""

    dataset: str
    data_dir: str | None
    preset: Preset
    seed: int
    quick: bool
    artifacts_dir: Path
    extra: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.preset, Preset):  # resolved once, by run_config: the steps pass it on as it is
            raise ParameterError(f"RunConfig.preset must be a Preset, got {self.preset!r}; build it with run_config")

    @property
    def memory_gb(self) -> float:
        """The run's memory budget in GB: the ``memory_gb`` parameter, else ``$L2I_MEMORY_GB``, else 4
        (:func:`l2i_core._memory.memory_budget_gb`). Past their shares of it the activation cache, f's
        features and the frames of dictionary learning live on disk and are read a batch at a time."""
        return memory_budget_gb(self.extra.get("memory_gb"))

    def size(self, name: str, full):
        """The quick run's size ``name`` (:data:`QUICK_SIZES`) in a quick run, else ``full``."""
        if name not in QUICK_SIZES:
            raise ParameterError(f"unknown run size {name!r}; choose one of {sorted(QUICK_SIZES)}")
        return QUICK_SIZES[name] if self.quick else full

    def load_dataset(self, *, head: bool = True, **kwargs):
        """Load ``self.dataset`` from ``self.data_dir`` with ``self.seed``.

        A quick run builds a small urbanmix and, with ``head=True``, keeps the first
        ``QUICK_SIZES['clips']`` clips of every dataset.
        """
        if self.quick and self.dataset == "urbanmix":
            kwargs.setdefault("n_scenes", QUICK_SIZES["urbanmix_scenes"])
        ds = load_dataset(self.dataset, data_dir=self.data_dir, seed=self.seed, **kwargs)
        return ds.head(QUICK_SIZES["clips"]) if self.quick and head else ds

    def __getattr__(self, name):  # extra parameters read like fields: cfg.epochs
        extra = self.__dict__.get("extra", {})
        if name in extra:
            return extra[name]
        raise AttributeError(name)


def _as_bool(name: str, v) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return v.strip().lower() in ("true", "1", "yes")
    raise ParameterError(f"parameter {name}={v!r} must be true or false")


def _as_int(name: str, v) -> int:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ParameterError(f"parameter {name}={v!r} must be an integer") from None
    if f != int(f):
        raise ParameterError(f"parameter {name}={v!r} must be an integer")
    return int(f)


def run_config(*, dataset: str, data_dir=None, preset: str | Preset = "cpu", seed=0, quick=False, artifacts_dir=None,
               **extra) -> RunConfig:
    """Validate and coerce a notebook's parameters in one call.

    papermill's ``-p`` guesses types (``-p seed 1e0`` arrives as the float 1.0, ``-p quick True``
    as a bool but ``-p quick true`` as a string); this turns them into the right types or raises
    one clear :class:`ParameterError`. Empty strings mean "not given". ``preset`` (a name or a
    :class:`~l2i_core.config.Preset`) is resolved here, once: :attr:`RunConfig.preset` is a ``Preset``,
    and everything the run calls receives that object.

    Returns
    -------
    RunConfig
        ``artifacts_dir`` defaults to ``artifacts/<dataset>-<preset>`` (``-quick`` appended for quick runs) in
        the project folder (:func:`project_dir`), whatever the working directory; a relative ``artifacts_dir``
        is taken from the project folder too. It is written as :func:`from_here` writes it.
    """
    name = str(dataset).strip().lower()
    if name not in DATASETS:
        raise ParameterError(f"parameter dataset={dataset!r} is not one of {list(DATASETS)}")
    p = get_preset(str(preset).strip().lower() if isinstance(preset, str) else preset)
    quick = _as_bool("quick", quick)
    data_dir = str(data_dir).strip() if data_dir not in (None, "") else None
    if "memory_gb" in extra:
        memory_budget_gb(extra["memory_gb"])  # a bad budget fails here, with the parameter's name
    artifacts_dir = from_here(project_path(artifacts_dir, f"artifacts/{name}-{p.name}{'-quick' if quick else ''}"))
    return RunConfig(
        dataset=name, data_dir=data_dir, preset=p, seed=_as_int("seed", seed), quick=quick,
        artifacts_dir=Path(artifacts_dir), extra=dict(extra),
    )
