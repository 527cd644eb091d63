"""The one ``l2i`` command: ``l2i``, ``python -m l2i_core`` and ``torchrun ... -m l2i_core`` all run :func:`main`.

Every subcommand is registered once, in :data:`COMMANDS` (name → how to add its arguments, how to
run it): ``reproduce`` and ``benchmark`` (the notebooks, :mod:`l2i_core.pipeline.notebooks`), ``download``
(datasets into the user cache: size stated first, ``--yes`` for one over 1 GB, resumable),
``index`` and ``readme`` (the reports), ``explain`` (one's own files), ``lab`` (the listening lab)
and the heavy steps below.

The heavy steps are the functions the notebooks call, on one process or under torchrun.

Every command takes ``--dataset --data-dir --preset --artifacts-dir --seed`` (the notebooks' shared
parameters) and writes the artifacts the notebooks then reuse (the same files, the same sidecars,
so their reuse checks accept them)::

    l2i learn-dictionary  --dataset esc10                 # notebook 01: W (one process: NMF is not sharded)
    l2i train-classifier  --dataset esc10 --epochs 40     # notebook 02: f, DDP under torchrun
    l2i build-cache       --dataset esc10                 # f's tapped maps, sharded over the ranks
    l2i train-interpreter --dataset esc10 --pooling both  # notebook 03: Ψ, Θ, DDP under torchrun
    l2i train-lmac        --dataset esc10                 # notebook 08's L-MAC decoder, DDP under torchrun
    l2i evaluate          --dataset esc10                 # test fidelity of the interpreters, gathered

Several processes: ``torchrun --nproc_per_node=2 -m l2i_core train-interpreter --dataset esc10``
(see the README's "More than one machine"). Progress bars and files come from rank 0 only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

import l2i_core.pipeline.steps as steps
from l2i_core._errors import L2IError, ParameterError
from l2i_core._version import full_version
from l2i_core.models.checkpoints import load_classifier, load_interpreter
from l2i_core.pipeline.explain_files import add_explain_command, run_explain
from l2i_core.pipeline.lab import add_lab_command, run_lab
from l2i_core.pipeline.notebooks import reproduce, rerender_reports
from l2i_core.pipeline.run import project_path, run_config
from l2i_core.pipeline.steps import ensure_lmac
from l2i_core.report.headline import write_index, write_readme
from l2i_core.train.distributed import barrier, init_distributed, is_main, shutdown_distributed
from l2i_core.train.recipes import InterpreterResult

__all__ = ["COMMANDS", "STEP_COMMANDS", "add_step_commands", "build_parser", "main", "run_step", "run_step_command"]

STEP_COMMANDS = ("learn-dictionary", "train-classifier", "build-cache", "train-interpreter", "train-lmac", "evaluate")
SPLITS = ("train", "validation", "test")


def _shared(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="esc10", help="esc10, esc50, esc50-fold4, fsdd, sonyc, urbanmix or folder")
    p.add_argument("--data-dir", default=None, help="dataset folder (default: $L2I_DATA/<dataset>, then the user cache)")
    p.add_argument("--preset", default="cpu", help="cpu, paper, efficientat (AudioSet-pretrained mn04) or aisfx")
    p.add_argument("--artifacts-dir", default=None, help="where the artifacts go (default: the project's "
                                                        "artifacts/<dataset>-<preset>, the notebooks' default: they "
                                                        "reuse what is there)")
    p.add_argument("--seed", type=int, default=0, help="run seed (rank r of a torchrun job uses seed + r * 1000003)")
    p.add_argument("--quick", action="store_true", help="tiny data and budgets, for a smoke test")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda:LOCAL_RANK when available)")


def add_step_commands(sub) -> None:
    """Add the step commands to an ``argparse`` sub-parser set (``l2i <command> --help`` explains each)."""
    p = sub.add_parser("learn-dictionary", help="learn the NMF dictionary W on the training split (notebook 01)",
                       description="Sparse NMF on the training split's log-magnitude spectrograms; writes "
                                   "dictionary.npy and its sidecar. Under torchrun rank 0 learns it, the others wait.")
    _shared(p)
    p.add_argument("--n-components", type=int, default=100, help="K atoms (multi-label data: 10 per class)")
    p.add_argument("--sparsity", type=float, default=0.8, help="the L1 weight µ of the activations")
    p.add_argument("--max-iter", type=int, default=200, help="NMF iterations")
    p = sub.add_parser("train-classifier", help="train (or fine-tune) the classifier f (notebook 02), DDP under torchrun",
                       description="Train f on the train split, select on validation, score test once; writes "
                                   "classifier.pt/.json. Under torchrun: DDP, each process --batch-size clips per step.")
    _shared(p)
    p.add_argument("--epochs", type=int, default=0, help="0: the recipe's (40 multi-class, 80 multi-label)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak Adam learning rate")
    p.add_argument("--batch-size", type=int, default=32, help="clips per step per process")
    p = sub.add_parser("build-cache", help="cache f's tapped maps, logits and V per split, sharded over the ranks",
                       description="Run the frozen f once over each split; writes <artifacts>/cache/<split>/ "
                                   "(one shard per rank: .npy arrays read by rows, and index.json; then cache.json).")
    _shared(p)
    p.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS, help="splits to cache")
    p.add_argument("--batch-size", type=int, default=16, help="clips per forward pass")
    p = sub.add_parser("train-interpreter", help="train Ψ and Θ on the cache (notebook 03), DDP under torchrun",
                       description="Train the interpreter head(s) on f's cached maps; writes interpreter_<pooling>.pt/"
                                   ".json. Reads <artifacts>/cache/<split>/ when build-cache wrote it.")
    _shared(p)
    p.add_argument("--pooling", default="both", choices=("attention", "max", "both"), help="Θ head(s)")
    p.add_argument("--epochs", type=int, default=0, help="0: the official 35 (multi-class) or 40 (multi-label)")
    p.add_argument("--batch-size", type=int, default=32, help="clips per step per process")
    p = sub.add_parser("train-lmac", help="train the L-MAC decoder for f (notebook 08), DDP under torchrun",
                       description="Train L-MAC on f's cached maps (reused when lmac.pt already explains this f).")
    _shared(p)
    p.add_argument("--epochs", type=int, default=0, help="0: the recipe's 40")
    p = sub.add_parser("evaluate", help="test fidelity of the trained interpreters, on predictions gathered from every rank",
                       description="The paper's fidelity of each Θ head on the test split; writes evaluate.json.")
    _shared(p)
    p.add_argument("--pooling", default="both", choices=("attention", "max", "both"), help="Θ head(s)")


def _config(args):
    return run_config(dataset=args.dataset, data_dir=args.data_dir, preset=args.preset, seed=args.seed,
                      quick=args.quick, artifacts_dir=args.artifacts_dir)


def _caches(cfg, ds, classifier, splits, *, progress: bool, batch_size: int = 16) -> dict:
    """The caches of ``splits`` in ``<artifacts>/cache/<split>`` (sharded), reused when built by this f on
    these clips (:func:`~l2i_core.pipeline.steps.split_caches`, as the notebooks past their budget)."""
    return steps.split_caches(cfg, ds, classifier, tuple(splits), progress=progress, on_disk=True,
                              batch_size=batch_size)


def _poolings(p: str) -> list[str]:
    return ["attention", "max"] if p == "both" else [p]


def run_step(args) -> dict:
    """Run one step command (``args`` from :func:`add_step_commands`); returns what it printed as a dict."""
    info = init_distributed(args.device)
    cfg = _config(args)
    ds = cfg.load_dataset()
    main = is_main()
    t0 = time.perf_counter()
    out: dict = {"command": args.command, "dataset": cfg.dataset, "preset": cfg.preset.name,
                 "world_size": info.world_size, "artifacts_dir": str(cfg.artifacts_dir)}
    if args.command == "learn-dictionary":
        if main:
            d = steps.learn_dictionary_step(cfg, ds, n_components=args.n_components, sparsity=args.sparsity,
                                            max_iter=args.max_iter, progress=True)
            out.update(n_components=d.n_components, seconds=d.meta.get("seconds"))
        barrier()
    elif args.command == "train-classifier":
        feats = steps.feature_splits(cfg, ds, progress=main)  # on disk past the memory budget, as notebook 02
        res = steps.train_classifier_step(cfg, ds, epochs=args.epochs, features=feats, lr=args.lr,
                                          batch_size=args.batch_size, progress=main)
        scores = steps.score_classifier_step(cfg, ds, res, feats["test"])
        scores.pop("logits")
        out.update(best_epoch=res.best_epoch, validation={res.metric_name: res.best_metric},
                   test={k: scores[k] for k in ("accuracy", "macro_auprc") if k in scores},
                   global_batch_size=res.meta.get("global_batch_size"))
    elif args.command == "build-cache":
        classifier, _, _ = steps.ensure_classifier(cfg, ds)
        caches = _caches(cfg, ds, classifier, args.splits, progress=main, batch_size=args.batch_size)
        out["caches"] = {s: {"clips": len(c), "bytes": int(c.nbytes()), "bytes_per_clip": int(c.nbytes() / max(1, len(c))),
                             "shards": c.meta.get("world_size", 1)} for s, c in caches.items()}
    elif args.command == "train-interpreter":
        if main:  # NMF is not sharded: rank 0 learns W when it is missing, the others then read it
            steps.ensure_dictionary(cfg, ds, progress=True)
        barrier()
        dictionary, _ = steps.ensure_dictionary(cfg, ds, progress=False)
        classifier, clf_meta, _ = steps.ensure_classifier(cfg, ds)
        caches = _caches(cfg, ds, classifier, ("train", "validation"), progress=main)
        out["heads"] = {}
        for pooling in _poolings(args.pooling):
            res = steps.train_interpreter_step(cfg, ds, pooling, dictionary, caches, clf_meta, epochs=args.epochs,
                                               batch_size=args.batch_size, progress=main)
            out["heads"][pooling] = {"best_epoch": res.best_epoch, "validation": res.best_selection_score,
                                     "seconds": res.seconds, "global_batch_size": res.meta.get("global_batch_size")}
    elif args.command == "train-lmac":
        classifier, _, _ = steps.ensure_classifier(cfg, ds)
        caches = _caches(cfg, ds, classifier, ("train", "validation"), progress=main)
        _, meta, msg = ensure_lmac(cfg, ds, epochs=args.epochs or None, progress=main, caches=caches)
        out.update(message=msg, best_epoch=meta.get("best_epoch"))
    elif args.command == "evaluate":
        classifier, clf_meta = load_classifier(Path(cfg.artifacts_dir) / "classifier.pt")
        test = _caches(cfg, ds, classifier, ("test",), progress=main)["test"]
        out["heads"] = {}
        for pooling in _poolings(args.pooling):
            interp, meta = load_interpreter(Path(cfg.artifacts_dir) / f"interpreter_{pooling}.pt")
            res = InterpreterResult(interpreter=interp, history=meta.get("history", []), best_epoch=meta.get("best_epoch", -1),
                                    selection_metric=meta.get("selection_metric", ""),
                                    best_selection_score=meta.get("best_selection_score", float("nan")),
                                    seconds=0.0, lr=meta.get("lr", 0.0), meta=meta)
            out["heads"][pooling] = steps.interpreter_test_summary(ds, res, test, clf_meta)["fidelity"]
        if main:
            (Path(cfg.artifacts_dir) / "evaluate.json").write_text(json.dumps(out, indent=2) + "\n")
    out["seconds"] = round(time.perf_counter() - t0, 2)
    if main:
        print(json.dumps(out, indent=2, default=float), flush=True)
    return out


def run_step_command(args) -> dict:
    """:func:`run_step`, then end the process group (after an error too, without waiting for the others)."""
    try:
        out = run_step(args)
    except L2IError:
        shutdown_distributed(wait=False)
        raise
    shutdown_distributed()
    return out


def _add_reproduce(sub) -> None:
    rep = sub.add_parser("reproduce", help="run notebooks 00.. in order and render reports/<dataset>/")
    rep.add_argument("--dataset", default="esc10")
    rep.add_argument("--preset", default="cpu")
    rep.add_argument("--seed", type=int, default=0)
    rep.add_argument("--data-dir", default=None)
    rep.add_argument("--quick", action="store_true", help="every notebook on tiny data, for a smoke test")
    rep.add_argument("--force", action="store_true", help="run every notebook, even those whose outputs are current")
    rep.add_argument("--reports-dir", default=None, help="default: reports (reports-quick with --quick)")
    rep.add_argument("--artifacts-dir", default=None)
    rep.add_argument("--notebooks-dir", default=None, help=argparse.SUPPRESS)
    rep.add_argument("--no-data-check", action="store_true", help=argparse.SUPPRESS)  # notebooks that read no dataset
    rep.add_argument("--only", nargs="*", help="run only notebooks whose names start with these prefixes")
    rep.add_argument("--offline", action="store_true",
                     help="never download: a missing dataset is an error (also L2I_OFFLINE=1)")
    rep.add_argument("--yes", "-y", action="store_true",
                     help="agree in advance to downloads over 1 GB (SONYC-UST); also L2I_YES=1. Without it such a "
                          "download asks [y/N] on a terminal and stops elsewhere")


@contextlib.contextmanager
def _agreeing(yes: bool):
    """``--yes``: ``L2I_YES=1`` while the command runs, so every download it triggers is agreed to."""
    if not yes:
        yield
        return
    before = os.environ.get("L2I_YES")
    os.environ["L2I_YES"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("L2I_YES", None)
        else:
            os.environ["L2I_YES"] = before


def _run_reproduce(args) -> int:
    with _agreeing(args.yes):
        reproduce(args.dataset, args.preset, quick=args.quick, seed=args.seed, data_dir=args.data_dir,
                  reports_dir=args.reports_dir, artifacts_dir=args.artifacts_dir, notebooks_dir=args.notebooks_dir,
                  only=args.only, force=args.force, offline=True if args.offline else None,
                  check_data=not args.no_data_check)
    return 0


#: What ``l2i download`` fetches besides datasets: name → (what, size, licence, how it is fetched).
def _model_sources() -> dict:
    from l2i_core.models import efficientat as eat

    return {"efficientat": {
        "what": "EfficientAT mn04_as weights and AudioSet class names (preset efficientat)",
        "bytes": eat.EFFICIENTAT_BYTES + eat.EFFICIENTAT_LABELS_BYTES, "licence": eat.EFFICIENTAT_LICENCE,
        "fetch": lambda: (eat.efficientat_weights(), eat.audioset_labels(download=True))[0],
        "find": lambda: eat.efficientat_weights(download=False)}}


def _add_download(sub) -> None:
    from l2i_core.data.registry import SOURCES

    names = [n for n, src in SOURCES.items() if src.remotes] + list(_model_sources())
    dl = sub.add_parser("download", help="download datasets and pretrained weights into the user cache "
                                         "(checksummed, resumable); --list shows sizes and licences",
                        description="Download each dataset (or pretrained model) that is not on disk into the user "
                                    "cache ($L2I_CACHE, default ~/.cache/l2i). Each states its size and file count "
                                    "first (and what an interrupted run already fetched); one over 1 GB (sonyc, about "
                                    "13 GB) asks [y/N] on a terminal and elsewhere needs --yes (or L2I_YES=1). Every "
                                    "file is checked against its md5/sha256; after a failure, the same command resumes "
                                    "where it stopped. Prints each one's folder. Without a name (or with --list): "
                                    "what each is, its size, its licence and whether it is on disk.")
    dl.add_argument("datasets", nargs="*", metavar="NAME", help=", ".join(names))  # checked in _run_download
    dl.add_argument("--list", action="store_true", help="list every dataset and model: size, licence, on disk or not")
    dl.add_argument("--yes", "-y", action="store_true", help="agree to downloads over 1 GB without asking")


def download_table() -> list[dict]:
    """Every dataset and pretrained model ``l2i download`` knows: its size, licence and folder (None: not on disk)."""
    from l2i_core._errors import DataNotFoundError
    from l2i_core.data import registry

    rows = []
    for name, src in registry.SOURCES.items():
        try:
            where = registry.find_dataset_dir(name)
        except DataNotFoundError:
            where = None
        how = "download" if src.remotes else f"built: {src.how_to_get}"
        rows.append({"name": name, "kind": "dataset", "size": src.size or "-", "licence": src.licence,
                     "on_disk": str(where) if where else None, "how": how})
    for name, m in _model_sources().items():
        try:
            where = m["find"]().parent
        except (DataNotFoundError, L2IError):
            where = None
        rows.append({"name": name, "kind": "model", "size": f"{m['bytes'] / 1e6:.1f} MB", "licence": m["licence"],
                     "on_disk": str(where) if where else None, "how": "download"})
    return rows


def _run_download(args) -> int:
    from l2i_core._errors import DataNotFoundError
    from l2i_core.data import registry

    if args.list or not args.datasets:
        for r in download_table():
            where = f"on disk: {r['on_disk']}" if r["on_disk"] else ("not on disk: l2i download " + r["name"]
                                                                     if r["how"] == "download" else r["how"])
            print(f"{r['name']} ({r['kind']}): {r['size']}\n    licence: {r['licence']}\n    {where}")
        return 0
    models = _model_sources()
    known = [n for n, src in registry.SOURCES.items() if src.remotes] + list(models)
    unknown = [n for n in args.datasets if n not in known]
    if unknown:
        raise ParameterError(f"{', '.join(unknown)}: not one of {', '.join(known)} "
                             "(`l2i download --list` shows each)")
    for name in dict.fromkeys(args.datasets):
        if name in models:
            print(models[name]["fetch"]().parent, flush=True)
            continue
        try:
            where = registry.find_dataset_dir(name)
            print(f"{name}: already on disk in {where}", file=sys.stderr, flush=True)
        except DataNotFoundError:
            where = None
        if where is None and name == "esc50-fold4":
            try:  # ESC-50 on disk holds the subset: cut it from there rather than download 600 MB
                where = registry.esc50_fold4_from_esc50(registry.find_dataset_dir("esc50"))
            except DataNotFoundError:
                pass
        if where is None:
            where = registry.download_dataset(name, yes=True if args.yes else None)
        print(where, flush=True)
    return 0


def _add_ship(sub) -> None:
    sp = sub.add_parser("ship", help="copy the trained explainers of the default run into trained/ (half precision)",
                        description="Copy f and its attention interpreter of each shipped dataset (esc10-cpu, "
                                    "esc50-fold4-efficientat) from the project's artifacts/ into trained/, in half "
                                    "precision, so that `l2i explain` and `l2i lab` work from a fresh clone. Run it "
                                    "when the committed reports are regenerated; it refuses more than 10 MB in all.")
    sp.add_argument("names", nargs="*", metavar="NAME", help="<dataset>-<preset> folders (default: the shipped ones)")


def _run_ship(args) -> int:
    import shutil
    import tempfile

    from l2i_core.pipeline.run import project_dir
    from l2i_core.pipeline.shipped import SHIP_BUDGET_MB, SHIPPED, ship, shipped_dir

    names = args.names or SHIPPED
    with tempfile.TemporaryDirectory(dir=project_dir()) as tmp:  # written aside, moved in only within budget
        sizes = {name: ship(project_dir() / "artifacts" / name, Path(tmp) / name) for name in names}
        total = sum(sum(s.values()) for s in sizes.values())
        if total > SHIP_BUDGET_MB * 1e6:
            raise ParameterError(f"the shipped explainers would weigh {total / 1e6:.1f} MB, more than "
                                 f"{SHIP_BUDGET_MB:g} MB; nothing was replaced")
        for name in names:
            shutil.rmtree(shipped_dir(name), ignore_errors=True)
            shipped_dir(name).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(Path(tmp) / name), shipped_dir(name))
            print(f"{shipped_dir(name)}: {sum(sizes[name].values()) / 1e6:.2f} MB", flush=True)
    print(f"trained/: {total / 1e6:.2f} MB in all (at most {SHIP_BUDGET_MB:g})")
    return 0


def _add_benchmark(sub) -> None:
    ben = sub.add_parser("benchmark", help="compare L2I, L-MAC and the gradient methods on one dataset (notebook 08)",
                         description="Run notebooks/08_compare_explainers.ipynb for one dataset and render it in "
                                     "reports/<dataset>/: every explainer on the same test clips, scored by the same "
                                     "protocols with 95 % intervals. The classifier and the L2I interpreters are "
                                     "reused from artifacts-dir (trained there first when missing); L-MAC is trained "
                                     "there when missing.")
    for a, kw in (("--dataset", {"default": "esc10"}), ("--preset", {"default": "cpu"}), ("--seed", {"type": int, "default": 0}),
                  ("--data-dir", {"default": None}), ("--reports-dir", {"default": None}),
                  ("--artifacts-dir", {"default": None})):
        ben.add_argument(a, **kw)
    ben.add_argument("--quick", action="store_true", help="tiny data, for a smoke test")


def _run_benchmark(args) -> int:
    reproduce(args.dataset, args.preset, quick=args.quick, seed=args.seed, data_dir=args.data_dir,
              reports_dir=args.reports_dir, artifacts_dir=args.artifacts_dir, only=["08"])
    return 0


def _add_index(sub) -> None:
    idx = sub.add_parser("index", help="rewrite reports/index.html from reports/*/results.json")
    idx.add_argument("--reports-dir", default=None, help="default: the project's reports/")
    idx.add_argument("--render", action="store_true",
                     help="also re-render each report's HTML from its executed notebook (reports/<dataset>/*.ipynb) "
                          "with the current template; runs no notebook and changes no number")


def _run_index(args) -> int:
    reports = project_path(args.reports_dir, "reports")
    if args.render:
        for path in rerender_reports(reports):
            print(path)
    print(write_index(reports))
    return 0


def _add_readme(sub) -> None:
    rdm = sub.add_parser("readme", help="regenerate the README's results and 'Measured so far' tables")
    rdm.add_argument("--readme", default=None, help="default: the project's README.md")
    rdm.add_argument("--reports-dir", default=None, help="default: the project's reports/")
    rdm.add_argument("--benchmarks-dir", default=None, help="default: the project's benchmarks/results/")


def _run_readme(args) -> int:
    readme = project_path(args.readme, "README.md")
    changed = write_readme(readme, project_path(args.reports_dir, "reports"),
                           project_path(args.benchmarks_dir, "benchmarks/results"))
    print(f"{readme}: {'updated' if changed else 'unchanged'}")
    return 0


def _run_step_main(args) -> int:
    run_step_command(args)
    return 0


#: Every subcommand of ``l2i``, registered once: name → (add its parser to a sub-parser set, run it).
#: The step commands share one adder (:func:`add_step_commands`, which adds them all) and one runner.
COMMANDS: dict = {
    "reproduce": (_add_reproduce, _run_reproduce),
    "download": (_add_download, _run_download),  # l2i download sonyc --yes
    "benchmark": (_add_benchmark, _run_benchmark),
    "ship": (_add_ship, _run_ship),  # l2i ship: trained/ from artifacts/ (half precision)
    **{name: (add_step_commands, _run_step_main) for name in STEP_COMMANDS},
    "explain": (add_explain_command, run_explain),  # l2i explain PATH... --artifacts-dir DIR --out OUT
    "lab": (add_lab_command, run_lab),  # notebook 07's listening lab as a web app (Voila)
    "index": (_add_index, _run_index),
    "readme": (_add_readme, _run_readme),
}


#: Path options a user types relative to the folder they are in (made absolute before the command runs);
#: left out, each defaults to its place in the project folder (:func:`~l2i_core.pipeline.run.project_dir`).
PATH_OPTIONS = ("artifacts_dir", "reports_dir", "notebooks_dir", "readme", "benchmarks_dir")


def _from_here(args) -> None:
    """Relative path options as the shell means them: from the working directory."""
    for name in PATH_OPTIONS:
        value = getattr(args, name, None)
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            setattr(args, name, str(Path.cwd() / Path(value).expanduser()))


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``l2i``: one sub-parser per entry of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(prog="l2i", description="Listen to Interpret: run the notebooks, write reports, "
                                                             "run the heavy steps (on one process or under torchrun), "
                                                             "explain files, open the listening lab.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {full_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in dict.fromkeys(add for add, _ in COMMANDS.values()):  # each adder once, in registry order
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``l2i <command>``: the console entry, ``python -m l2i_core`` and ``torchrun -m l2i_core`` alike.

    Returns the exit status: 0, or 1 after printing an :class:`~l2i_core.L2IError` as one line (a
    step under torchrun names its rank).
    """
    args = build_parser().parse_args(argv)
    _from_here(args)
    run = COMMANDS[args.command][1]
    if args.command == "lab":  # the lab reports its own errors (it may wait for a server)
        return run(args)
    try:
        return run(args)
    except L2IError as err:
        # torchrun's RANK: the process group is already ended here, so dist_info() would say rank 0
        where = f" (rank {os.environ['RANK']})" if args.command in STEP_COMMANDS and "RANK" in os.environ else ""
        print(f"l2i: error{where}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
