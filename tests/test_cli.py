"""The step commands: one process, then torchrun with two (gloo), on real clips; the notebooks reuse the artifacts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from l2i_core.pipeline.cli import COMMANDS, STEP_COMMANDS, build_parser, main


def test_every_step_command_explains_itself(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    for cmd in STEP_COMMANDS:
        assert cmd in top
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
        text = capsys.readouterr().out
        assert all(opt in text for opt in ("--dataset", "--data-dir", "--preset", "--artifacts-dir", "--seed"))


def test_one_main_serves_every_entry_and_every_command_is_registered_once():
    """``l2i`` (the console script), ``python -m l2i_core`` and torchrun (``-m l2i_core``) run the same
    ``main``, whose parser has exactly the commands of :data:`COMMANDS`."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    script = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]["l2i"]
    assert script == "l2i_core.pipeline.cli:main"
    dunder = (root / "l2i_core" / "__main__.py").read_text()
    assert "from l2i_core.pipeline.cli import main" in dunder
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert list(sub.choices) == list(COMMANDS) and set(STEP_COMMANDS) <= set(COMMANDS)

def test_version(capsys):
    """The release, and in a git checkout the commit it is at: the version changes with the code."""
    import re
    from pathlib import Path

    from l2i_core._version import __version__, full_version

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"l2i {full_version()}"
    root = Path(__file__).resolve().parents[1]
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:  # a checkout (CI clones one): 0.1.0+g<commit>, .dirty with uncommitted package changes
        assert re.fullmatch(rf"{re.escape(__version__)}\+g{head.stdout.strip()}(\.dirty)?", full_version())


def test_every_dependency_version_is_recorded():
    from importlib import metadata

    from l2i_core._version import dependency_versions

    got = dependency_versions()
    assert got["torch"] == metadata.version("torch") and got["numpy"] == metadata.version("numpy")
    assert {"scipy", "librosa", "papermill", "scikit-learn"} <= set(got) and got["python"].count(".") == 2


def test_an_error_is_one_line_from_the_one_main(tmp_path, capsys):
    assert main(["learn-dictionary", "--dataset", "no-such-dataset", "--artifacts-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("l2i: error: ") and "rank" not in err[0]


def _l2i(args, *, cwd, nproc: int = 1, timeout: float = 300):
    env = {**os.environ, "OMP_NUM_THREADS": "1" if nproc > 1 else os.environ.get("OMP_NUM_THREADS", "2")}
    launch = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
              if nproc > 1 else [sys.executable])
    r = subprocess.run([*launch, "-m", "l2i_core", *args], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout[r.stdout.index("{"):r.stdout.rindex("}") + 1])


@pytest.mark.realdata
@pytest.mark.slow
def test_steps_from_the_command_line_one_then_two_processes(data_root, tmp_path):
    from l2i_core.pipeline import steps
    from l2i_core.pipeline.run import run_config

    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    common = ["--dataset", "esc10", "--quick"]
    _l2i(["learn-dictionary", *common, "--artifacts-dir", one], cwd=tmp_path)
    _l2i(["train-classifier", *common, "--artifacts-dir", one], cwd=tmp_path)
    res1 = _l2i(["train-interpreter", *common, "--artifacts-dir", one, "--pooling", "attention"], cwd=tmp_path)
    assert res1["world_size"] == 1 and res1["heads"]["attention"]["global_batch_size"] == 32
    cfg = run_config(dataset="esc10", quick=True, artifacts_dir=one)
    ds = cfg.load_dataset()
    _, msg = steps.ensure_interpreter(cfg, ds, "attention")
    assert msg.startswith("reused"), msg  # the notebooks' reuse check accepts what the command wrote

    # two processes (gloo): the sharded cache, then DDP training on it, in a copy of the same f and W
    os.makedirs(two)
    for f in ("dictionary.npy", "dictionary.json", "classifier.pt", "classifier.json"):
        with open(os.path.join(one, f), "rb") as src, open(os.path.join(two, f), "wb") as dst:
            dst.write(src.read())
    built = _l2i(["build-cache", *common, "--artifacts-dir", two], cwd=tmp_path, nproc=2)
    assert all(c["shards"] == 2 for c in built["caches"].values())
    assert sorted(os.listdir(os.path.join(two, "cache", "train"))) == ["cache.json", "shard-000", "shard-001"]
    res2 = _l2i(["train-interpreter", *common, "--artifacts-dir", two, "--pooling", "attention",
                 "--batch-size", "16"], cwd=tmp_path, nproc=2)
    assert res2["world_size"] == 2 and res2["heads"]["attention"]["global_batch_size"] == 32
    side = json.loads(open(os.path.join(two, "interpreter_attention.json")).read())
    assert side["world_size"] == 2
    _l2i(["train-lmac", *common, "--artifacts-dir", two], cwd=tmp_path, nproc=2)  # L-MAC's decoder under DDP too
    assert json.loads(open(os.path.join(two, "lmac.json")).read())["world_size"] == 2
    # the same interpreter evaluated on 1 and on 2 processes: gathered predictions, identical scores
    e1 = _l2i(["evaluate", *common, "--artifacts-dir", two, "--pooling", "attention"], cwd=tmp_path)
    e2 = _l2i(["evaluate", *common, "--artifacts-dir", two, "--pooling", "attention"], cwd=tmp_path, nproc=2)
    assert e1["heads"]["attention"] == pytest.approx(e2["heads"]["attention"])


def test_download_and_reproduce_take_yes(monkeypatch, capsys):
    """``l2i download --help`` names the datasets and ``--yes``; ``l2i reproduce --yes`` agrees (``L2I_YES=1``) to
    the downloads of its data check for that call only."""
    import l2i_core.pipeline.cli as cli

    with pytest.raises(SystemExit) as e:
        main(["download", "--help"])
    text = capsys.readouterr().out
    assert e.value.code == 0 and "--yes" in text and "sonyc" in text and "L2I_YES=1" in text
    seen = []
    monkeypatch.setattr(cli, "reproduce", lambda *a, **k: seen.append(os.environ.get("L2I_YES")))
    monkeypatch.delenv("L2I_YES", raising=False)
    assert main(["reproduce", "--dataset", "sonyc", "--yes"]) == 0 and main(["reproduce", "--dataset", "sonyc"]) == 0
    assert seen == ["1", None] and "L2I_YES" not in os.environ


def test_download_lists_every_dataset_and_model_with_its_size_and_licence(isolated_env, monkeypatch, capsys):
    """``l2i download`` without a name (or ``--list``): each dataset and the AudioSet weights, their size, licence
    and whether they are on disk; an unknown name is one line that points at the list."""
    from l2i_core.data.registry import SOURCES
    from l2i_core.models import efficientat

    monkeypatch.delenv("L2I_MODELS", raising=False)
    assert main(["download"]) == 0
    listed = capsys.readouterr().out
    assert main(["download", "--list"]) == 0 and capsys.readouterr().out == listed
    for name, src in SOURCES.items():
        assert f"{name} (dataset): {src.size or '-'}\n    licence: {src.licence}\n" in listed and src.licence
    assert "licence: CC BY-NC 3.0" in listed.split("esc50-fold4 (dataset)")[1].split("\n")[1]  # ESC-50's: non-commercial
    assert f"efficientat (model): 4.1 MB\n    licence: {efficientat.EFFICIENTAT_LICENCE}\n    not on disk" in listed
    assert main(["download", "imagenet"]) == 1
    assert "imagenet: not one of" in capsys.readouterr().err
