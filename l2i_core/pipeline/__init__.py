"""Running it all: the one ``l2i`` command, the papermill runner, run parameters, the reuse-or-build steps, ``l2i explain`` and the Voilà lab.

Modules
-------
run                 Run parameters: the notebooks' shared parameters, validated once into a :class:`RunConfig`, and the
steps               Reuse-or-build steps shared by the notebooks: the dictionary (notebook 01) and the classifier
notebooks           Run the numbered notebooks with papermill and render them to self-contained HTML reports.
explain_files       ``l2i explain``: interpret one's own sound files from the command line.
lab                 The listening lab of notebook 07 as a web app: ``l2i lab --artifacts-dir DIR`` serves it with Voilà.
explainer_benchmark The explainer benchmark of one dataset: what notebook 08 and ``l2i benchmark`` run.
cli                 The one ``l2i`` command: ``l2i``, ``python -m l2i_core`` and ``torchrun ... -m l2i_core`` all run :func:`main`.
"""

from l2i_core.pipeline.cli import (
    COMMANDS,
    STEP_COMMANDS,
    add_step_commands,
    build_parser,
    main,
    run_step,
    run_step_command,
)
from l2i_core.pipeline.explain_files import (
    DEFAULT_TOP_K,
    WAV_SUBTYPE,
    add_explain_command,
    explain_file,
    output_folders,
    run_explain,
    window_samples,
)
from l2i_core.pipeline.explainer_benchmark import (
    DEFAULT_METHODS,
    GRADIENT_SETTINGS,
    PAIRED,
    build_conditions,
    build_explainers,
    comparison_study,
    lmac_summary,
    randomization_study,
    sanity_sentences,
)
from l2i_core.pipeline.lab import (
    LAB_NOTEBOOK,
    LabServer,
    add_lab_command,
    free_port,
    lab_parameters,
    run_lab,
    serve_lab,
    start_lab,
    write_lab_notebook,
)
from l2i_core.pipeline.notebooks import (
    NotebookFailed,
    collect_results,
    find_notebooks,
    machine_info,
    package_digest,
    render_html,
    reproduce,
    run_notebook,
    step_fingerprint,
)
from l2i_core.pipeline.run import (
    PRESET_PARAMETERS,
    QUICK_SIZES,
    SHARED_PARAMETERS,
    RunConfig,
    notebook_parameters,
    run_config,
)
from l2i_core.pipeline.steps import (
    default_interpreter_epochs,
    ensure_classifier,
    ensure_dictionary,
    ensure_interpreter,
    finetune_step,
    interpreter_reusable,
    interpreter_test_summary,
    learn_dictionary_step,
    learning_history,
    nmf_relative_error,
    score_classifier_step,
    train_classifier_step,
    train_interpreter_step,
    trained_for,
    training_summary,
)

__all__ = [
    "RunConfig",
    "run_config",
    "SHARED_PARAMETERS",
    "QUICK_SIZES",
    "PRESET_PARAMETERS",
    "notebook_parameters",
    "trained_for",
    "interpreter_reusable",
    "ensure_dictionary",
    "learn_dictionary_step",
    "ensure_classifier",
    "train_classifier_step",
    "score_classifier_step",
    "finetune_step",
    "training_summary",
    "learning_history",
    "ensure_interpreter",
    "train_interpreter_step",
    "nmf_relative_error",
    "interpreter_test_summary",
    "default_interpreter_epochs",
    "find_notebooks",
    "run_notebook",
    "render_html",
    "reproduce",
    "NotebookFailed",
    "package_digest",
    "step_fingerprint",
    "collect_results",
    "machine_info",
    "add_explain_command",
    "run_explain",
    "explain_file",
    "window_samples",
    "output_folders",
    "DEFAULT_TOP_K",
    "WAV_SUBTYPE",
    "LAB_NOTEBOOK",
    "lab_parameters",
    "write_lab_notebook",
    "LabServer",
    "start_lab",
    "serve_lab",
    "free_port",
    "add_lab_command",
    "run_lab",
    "build_explainers",
    "build_conditions",
    "comparison_study",
    "randomization_study",
    "DEFAULT_METHODS",
    "PAIRED",
    "lmac_summary",
    "GRADIENT_SETTINGS",
    "sanity_sentences",
    "COMMANDS",
    "STEP_COMMANDS",
    "add_step_commands",
    "build_parser",
    "main",
    "run_step",
    "run_step_command",
]
