"""Every notebook: parameters, no committed outputs, and execution under papermill (quick=True)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import numpy as np
import papermill as pm
import pytest

from l2i_core.evaluate.stats import MIN_ROWS
from l2i_core.pipeline.notebooks import NotebookFailed, find_notebooks, reproduce, run_notebook
from l2i_core.pipeline.run import SHARED_PARAMETERS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = find_notebooks(ROOT / "notebooks")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_exposes_shared_parameters(nb):
    params = pm.inspect_notebook(str(nb))
    assert set(SHARED_PARAMETERS) <= set(params), set(SHARED_PARAMETERS) - set(params)
    for name, p in params.items():
        assert p["inferred_type_name"] != "None", f"{nb.name}: parameter {name} has no type annotation"
        assert p["help"], f"{nb.name}: parameter {name} has no '# help' comment"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_no_committed_outputs(nb):
    node = nbformat.read(nb, as_version=4)
    for cell in node.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{nb.name}: clear outputs before committing"


def _execute(nb: Path, tmp_path: Path, **params) -> nbformat.NotebookNode:
    out = tmp_path / f"{nb.stem}-{params.get('dataset', 'default')}.ipynb"
    pm.execute_notebook(str(nb), str(out), parameters={"quick": True, **params}, cwd=str(tmp_path),
                        progress_bar=False)
    return nbformat.read(out, as_version=4)


def _outputs_text(node) -> str:
    chunks = []
    for cell in node.cells:
        for o in cell.get("outputs", []):
            chunks.append(o.get("text", ""))
            chunks.extend(str(v) for k, v in o.get("data", {}).items() if k.startswith("text/"))
    return "\n".join(chunks)


@pytest.mark.realdata
@pytest.mark.notebook
def test_00_data_esc10(data_root, tmp_path):
    node = _execute(ROOT / "notebooks" / "00_data.ipynb", tmp_path, dataset="esc10")
    text = _outputs_text(node)
    assert "400 clips, 10 classes" in text and "CC BY 3.0" in text
    assert text.count("<audio controls") >= 10  # one player per class
    assert "data:audio/ogg;base64," in text
    assert any(o.get("data", {}).get("image/png") for c in node.cells for o in c.get("outputs", []))


@pytest.mark.realdata
@pytest.mark.notebook
def test_00_data_urbanmix(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("L2I_CACHE", str(tmp_path / "cache"))
    node = _execute(ROOT / "notebooks" / "00_data.ipynb", tmp_path, dataset="urbanmix")
    text = _outputs_text(node)
    assert "multi-label" in text and "urbanmix" in text
    assert "stem: " in text  # the mixture/stem players were shown
    assert "has no stems" not in text


def test_bad_parameter_fails_with_clear_message(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="dataset='imagenet' is not one of"):
        _execute(ROOT / "notebooks" / "00_data.ipynb", tmp_path, dataset="imagenet")


def test_pipeline_names_failing_notebook_and_cell(tmp_path):
    bad = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("dataset: str = 'esc10'  # name")
    params.metadata["tags"] = ["parameters"]
    bad.cells = [params, nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("raise ValueError('boom')")]
    bad.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb_dir = tmp_path / "nbs"
    nb_dir.mkdir()
    nbformat.write(bad, nb_dir / "00_broken.ipynb")
    with pytest.raises(NotebookFailed) as e:
        run_notebook(nb_dir / "00_broken.ipynb", tmp_path / "out", {"dataset": "esc10"}, html=False)
    msg = str(e.value)
    assert "00_broken.ipynb" in msg and "cell 3" in msg and "ValueError: boom" in msg and "\n" not in msg


@pytest.mark.realdata
@pytest.mark.notebook
def test_pipeline_writes_html_and_results(data_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("L2I_PROJECT", str(tmp_path))
    results = reproduce("esc10", quick=True, reports_dir=tmp_path / "reports", only=["00"])
    out = tmp_path / "reports" / "esc10"
    html = (out / "00_data.html").read_text()
    assert "<audio controls" in html and re.search(r"data:image/png;base64", html)
    assert json.loads((out / "results.json").read_text()) == results
    assert results["steps"][0]["notebook"] == "00_data.ipynb" and results["total_seconds"] > 0


@pytest.mark.realdata
@pytest.mark.notebook
def test_01_dictionary_esc10_writes_w(data_root, tmp_path):
    art = tmp_path / "art"
    node = _execute(ROOT / "notebooks" / "01_dictionary.ipynb", tmp_path, dataset="esc10", artifacts_dir=str(art),
                    n_components=20)
    W = np.load(art / "dictionary.npy")
    meta = json.loads((art / "dictionary.json").read_text())
    assert W.shape == (513, 20) and meta["split"] == "train" and meta["dataset"] == "esc10"
    assert meta["n_components"] == 20 and meta["sparsity"] == 0.8 and meta["seed"] == 0
    text = _outputs_text(node)
    assert text.count("<audio controls") >= 5  # original, reconstruction, 3 atoms


@pytest.mark.realdata
@pytest.mark.notebook
def test_01_dictionary_urbanmix_per_class(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("L2I_CACHE", str(tmp_path / "cache"))
    art = tmp_path / "art"
    _execute(ROOT / "notebooks" / "01_dictionary.ipynb", tmp_path, dataset="urbanmix", artifacts_dir=str(art))
    meta = json.loads((art / "dictionary.json").read_text())
    assert meta["mode"] == "per_class" and meta["per_class"] == 10
    # machinery-impact and music have no source clips in urbanmix: no atoms, and the sidecar says so
    assert set(meta["classes_without_atoms"]) == {"machinery-impact", "music"}
    assert np.load(art / "dictionary.npy").shape == (513, 60)


@pytest.mark.realdata
@pytest.mark.notebook
def test_02_train_classifier_esc10(data_root, tmp_path):
    art = tmp_path / "art"
    node = _execute(ROOT / "notebooks" / "02_train_classifier.ipynb", tmp_path, dataset="esc10", artifacts_dir=str(art))
    meta = json.loads((art / "classifier.json").read_text())
    assert meta["classes"][0] == "dog" and meta["preset"] == "cpu" and len(meta["history"]) == 2
    res = json.loads((art / "results.json").read_text())["classifier"]
    assert res["split"] == "test" and "test fold 1" in res["protocol"]
    # accuracy is a share of the test clips: a whole number of them, and the confusion matrix's trace
    cm = np.array(res["confusion_matrix"])
    assert res["accuracy"] * res["n_clips"] == pytest.approx(np.trace(cm)) and cm.sum() == res["n_clips"]
    text = _outputs_text(node)
    # the paper's and Piczak's numbers are shown, in their own column (other data or protocol), with what differs
    assert "82.5" in text and "80.5" in text and "published (another dataset or protocol)" in text and "what differs" in text


@pytest.mark.realdata
@pytest.mark.notebook
def test_02_fine_tunes_the_pretrained_backbone_through_one_parameter(data_root, tmp_path):
    art = tmp_path / "art"
    node = _execute(ROOT / "notebooks" / "02_train_classifier.ipynb", tmp_path, dataset="esc50-fold4", preset="aisfx",
                    artifacts_dir=str(art))
    meta = json.loads((art / "classifier.json").read_text())
    assert meta["arch"]["kind"] == "aisfx" and meta["preset"] == "aisfx" and len(meta["classes"]) == 50
    res = json.loads((art / "results.json").read_text())["classifier"]
    kept = max(res["fine_tuning"], key=lambda c: c["validation"])
    assert [c["trainable"] for c in res["fine_tuning"]] == ["probe", "head", "last"]
    assert res["trainable"] == kept["trainable"] and res["accuracy"] == pytest.approx(kept["test"])
    text = _outputs_text(node)
    assert "Ma and A. Lerch" in text and "CC BY 4.0" in text  # the model, its paper and its licence are named
    assert "LP-FT" in text  # every candidate is shown, with its test score


@pytest.mark.realdata
@pytest.mark.notebook
def test_02_fine_tunes_efficientat_and_checks_speech_on_fsdd(data_root, tmp_path):
    art = tmp_path / "art"
    node = _execute(ROOT / "notebooks" / "02_train_classifier.ipynb", tmp_path, dataset="esc50-fold4",
                    preset="efficientat", artifacts_dir=str(art), quick=True)
    meta = json.loads((art / "classifier.json").read_text())
    assert meta["arch"]["kind"] == "efficientat" and meta["preset"] == "efficientat" and len(meta["classes"]) == 50
    results = json.loads((art / "results.json").read_text())
    res, speech = results["classifier"], results["speech_sense_check"]
    assert [c["trainable"] for c in res["fine_tuning"]] == ["probe", "head", "last"]
    lo, hi = res["accuracy_ci95"]
    assert lo <= res["accuracy"] <= hi
    assert speech["dataset"] == "fsdd" and speech["n_clips"] > 0 and 0 <= speech["share_top"] <= 1
    text = _outputs_text(node)
    assert "Schmid" in text and "MIT" in text  # the model, its paper and its licence are named
    assert "FSDD test" in text and "Wilson" in text


@pytest.mark.realdata
@pytest.mark.notebook
def test_02_train_classifier_urbanmix_multilabel(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("L2I_CACHE", str(tmp_path / "cache"))
    art = tmp_path / "art"
    _execute(ROOT / "notebooks" / "02_train_classifier.ipynb", tmp_path, dataset="urbanmix", artifacts_dir=str(art))
    res = json.loads((art / "results.json").read_text())["classifier"]
    assert {"machinery-impact", "music"} <= set(res["excluded_classes"])
    assert len(res["thresholds"]) == 8
    assert res["macro_auprc"] == pytest.approx(np.mean(list(res["per_class_auprc"].values())))  # the macro mean


@pytest.mark.realdata
@pytest.mark.notebook
def test_03_train_interpreter_esc10_both_heads(data_root, tmp_path):
    art = tmp_path / "art"
    node = _execute(ROOT / "notebooks" / "03_train_interpreter.ipynb", tmp_path, dataset="esc10", artifacts_dir=str(art))
    for head in ("attention", "max"):
        meta = json.loads((art / f"interpreter_{head}.json").read_text())
        assert meta["pooling"] == head and meta["classes"][0] == "dog" and meta["preset"] == "cpu"
        assert meta["n_components"] == 100 and len(meta["history"]) == 2
    res = json.loads((art / "results.json").read_text())
    assert set(res["interpreter"]["heads"]) == {"attention", "max"}
    text = _outputs_text(node)
    assert "learned a new dictionary" in text and "trained a new classifier" in text


@pytest.mark.realdata
@pytest.mark.notebook
def test_03_train_interpreter_sonyc_layout_from_urbanmix(data_root, tmp_path):
    """`papermill 03 -p dataset sonyc -p data_dir <SONYC-layout folder>`: the multi-label path end to end,
    on a tree with SONYC-UST v2's full annotation schema (volunteer, verified and team rows)."""
    from l2i_core.data.sonyc_synth import write_sonyc_tree

    sonyc_dir = write_sonyc_tree(tmp_path / "sonyc_like", 40, seed=0, progress=False)
    art = tmp_path / "art"
    node = _execute(ROOT / "notebooks" / "03_train_interpreter.ipynb", tmp_path, dataset="sonyc",
                    data_dir=str(sonyc_dir), artifacts_dir=str(art), pooling="attention", memory_gb=1)
    meta = json.loads((art / "interpreter_attention.json").read_text())
    assert meta["multilabel"] and meta["classes"][0] == "engine" and len(meta["classes"]) == 8
    assert json.loads((art / "dictionary.json").read_text())["mode"] == "per_class"
    text = _outputs_text(node)
    assert "multi-label" in text and "label_rule='dcase2020'" in text and "(budget 1 GB)" in text
    # notebook 08 on the same tree: no stems, so each labelled class of each test clip, every score but the
    # ground truth, in passes within the budget
    node8 = _execute(ROOT / "notebooks" / "08_compare_explainers.ipynb", tmp_path, dataset="sonyc",
                     data_dir=str(sonyc_dir), artifacts_dir=str(art), memory_gb=1,
                     methods="l2i-attention, lmac, saliency, random, oracle")
    text8 = _outputs_text(node8)
    assert "no stems: no ground truth" in text8 and "trained L-MAC" in text8
    comp = json.loads((art / "results.json").read_text())["comparison"]
    rows = comp["conditions"]["scenes"]
    assert set(rows) == {"L2I (attention)", "L-MAC", "Saliency", "random"}  # the oracle needs stems
    assert "AI" in rows["L-MAC"] and "si_sdr" not in rows["L-MAC"]


@pytest.mark.realdata
@pytest.mark.notebook
def test_quick_pipeline_runs_every_notebook_and_04_to_07_write_results(quick_pipeline):
    """`l2i reproduce --quick`: 00-07 in order in one artifacts_dir; 04-07 reuse 01-03's artifacts."""
    out = quick_pipeline / "reports" / "esc10"
    results = json.loads((out / "results.json").read_text())
    assert [s["notebook"][:2] for s in results["steps"]] == ["00", "01", "02", "03", "04", "05", "06", "07", "08"]
    assert (quick_pipeline / "reports" / "index.html").is_file()

    def text(prefix):
        return _outputs_text(nbformat.read(next(out.glob(f"{prefix}_*.ipynb")), as_version=4))

    text4 = text("04")
    assert "reused the attention interpreter of notebook 03" in text4 and "reused the max interpreter" in text4
    assert "65.7" in text4 and "ESC-50, 5-fold cross-validation" in text4  # the paper's numbers and data
    res = json.loads((quick_pipeline / "artifacts" / "esc10-cpu-quick" / "results.json").read_text())
    for head in ("attention", "max"):  # a share of the test clips, in %, and top-1 <= top-3 <= top-5
        fid, n = res["fidelity"]["heads"][head], res["fidelity"]["n_clips"]
        assert fid["top1"] * n / 100 == pytest.approx(round(fid["top1"] * n / 100))
        assert fid["top1"] <= fid["top3"] <= fid["top5"] <= 100
    text5 = text("05")
    assert "CC BY 3.0" in text5 and text5.count("<audio controls") >= 3 * 3  # input, interpretation, residual
    ff = res["faithfulness_attention"]
    assert set(ff["ff"]) == {"0.9", "0.7", "0.5", "0.3", "0.1"}
    comps = [ff["ff"][t]["components_median"] for t in ("0.9", "0.7", "0.5", "0.3", "0.1")]
    assert comps == sorted(comps) and comps[0] >= 1  # more components pass a lower threshold
    assert set(ff["mask_in"]) == {"AI", "AD", "AG", "fid_in"}
    text6 = text("06")
    assert "oracle IRM" in text6 and "integrated_gradients" in text6 and "<audio controls" in text6
    cor = res["corruptions_attention"]
    assert cor["noise"]["snr_db"] == 0.0 and cor["mixtures"]["pairs"] >= 6
    assert cor["mixtures"]["by_method"]["oracle IRM"]["si_sdr_median"] > cor["mixtures"]["by_method"]["random"]["si_sdr_median"]
    text7 = text("07")
    assert "reused the attention interpreter" in text7 and "<audio controls" in text7 and "data:image/png;base64" in text7
    text8 = text("08")  # the comparison: every method, SpeechBrain's rows beside, the sanity check
    assert "reused the attention interpreter" in text8 and "trained L-MAC" in text8 and "<audio controls" in text8
    assert "SpeechBrain README: L-MAC" in text8 and "ρ with its original masks" in text8
    truth = res["model_truth"]  # ground truth about f: a band-blind f and a planted marker, every explainer scored
    assert set(truth) == {"band", "planted"} and "['band', 'planted']" in text8  # the study's last output
    for kind, rec in truth.items():
        table = {r["method"]: r for r in rec["table"]}
        assert {"L2I (attention)", "L-MAC", "Saliency", "random", "identity"} <= set(table), kind
        assert all(0.0 <= r["mass inside"] <= 1.0 for r in table.values())
        # the identity mask is uniform: its mass inside is the region's share of the plane, chance, by construction
        assert table["identity"]["mass inside"] == pytest.approx(table["identity"]["chance"], rel=1e-6)
    assert truth["planted"]["shortcut"]["n"] >= 1
    cmp = res["comparison"]
    san = cmp["sanity"]  # every method but the constant references, each judged against its own control
    assert {v["method"] for v in san["verdicts"]} == {"L2I (attention)", "L2I (max-pool)", "L-MAC", "Saliency",
                                                      "Integrated Gradients", "SmoothGrad", "random"}
    assert all(v["verdict"] in ("passes", "fails", "cannot judge") for v in san["verdicts"])
    assert san["control_seed"] == 1 and {r["randomised"] for r in san["table"]} == {"none (control)", "output layer", "all layers"}
    assert set(cmp["conditions"]) == {"clean", "mixture", "white noise", "speech"}
    assert {"L2I (attention)", "L2I (max-pool)", "L-MAC", "Integrated Gradients", "random"} <= set(cmp["conditions"]["clean"])
    assert "oracle IRM" in cmp["conditions"]["mixture"] and "oracle IRM" not in cmp["conditions"]["clean"]
    lmac = cmp["conditions"]["clean"]["L-MAC"]
    ai, rows = lmac["AI"], lmac["rows"]
    hits = ai["mean"] * rows / 100  # AI is 0 or 100 per clip: the mean is 100 · (clips where q_c > p_c) / rows
    assert rows >= 1 and hits == pytest.approx(round(hits))
    assert ai["n"] == rows and 1 <= ai["n_units"] <= rows and ai["n_seeds"] >= 1
    if ai["n_units"] < MIN_ROWS:  # too few clips: no interval at all (null bounds), never a made-up one
        assert ai["low"] is None and ai["high"] is None
    else:  # a share: an interval around the mean inside [0, 100]; one seed's is exact, never degenerate
        assert 0.0 <= ai["low"] <= ai["mean"] <= ai["high"] <= 100.0
        if ai["interval"] == "Clopper-Pearson":
            assert ai["n_seeds"] == 1 and ai["low"] < ai["high"]


@pytest.mark.realdata
@pytest.mark.notebook
def test_04_builds_what_is_missing(data_root, tmp_path):
    art = tmp_path / "art"
    node = _execute(ROOT / "notebooks" / "04_fidelity.ipynb", tmp_path, dataset="esc10", artifacts_dir=str(art),
                    pooling="max")
    text = _outputs_text(node)
    assert "trained a new max interpreter (none was found" in text
    assert json.loads((art / "results.json").read_text())["fidelity"]["heads"]["max"]["top1"] >= 0


@pytest.mark.realdata
@pytest.mark.notebook
def test_06_corruptions_urbanmix_scenes(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("L2I_CACHE", str(tmp_path / "cache"))
    art = tmp_path / "art"
    node = _execute(ROOT / "notebooks" / "06_corruptions.ipynb", tmp_path, dataset="urbanmix", artifacts_dir=str(art),
                    n_listen=1)
    assert "Two-clip mixtures are built from single-label clips" in _outputs_text(node)
    cor = json.loads((art / "results.json").read_text())["corruptions_attention"]
    assert cor["scenes"]["interpretations"] >= 1 and "oracle IRM" in cor["scenes"]["by_method"]


@pytest.mark.realdata
@pytest.mark.notebook
def test_08_compare_urbanmix_scenes(data_root, tmp_path, monkeypatch):
    """Multi-label: every labelled class of each scene explained against its stem, by every method."""
    monkeypatch.setenv("L2I_CACHE", str(tmp_path / "cache"))
    art = tmp_path / "art"
    node = _execute(ROOT / "notebooks" / "08_compare_explainers.ipynb", tmp_path, dataset="urbanmix",
                    artifacts_dir=str(art), n_listen=1,
                    methods="l2i-attention, lmac, saliency, random, oracle")
    text = _outputs_text(node)
    assert "trained L-MAC" in text and "<audio controls" in text
    cmp = json.loads((art / "results.json").read_text())["comparison"]
    scenes = cmp["conditions"]["scenes"]
    assert set(scenes) == {"L2I (attention)", "L-MAC", "Saliency", "random", "oracle IRM"}
    assert scenes["oracle IRM"]["si_sdr"]["mean"] > scenes["random"]["si_sdr"]["mean"]
    assert json.loads((art / "lmac.json").read_text())["multilabel"] is True
