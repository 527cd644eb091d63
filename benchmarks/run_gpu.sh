#!/usr/bin/env bash
# GPU checks, run on a machine with CUDA: the CUDA tests, the paper-preset NMF timing, and the
# classifier (cpu preset 5-fold CV on esc10, then the paper preset). Results go to $OUT/*.json.
# Needs L2I_DATA (ESC-10) and the project importable (pip install -e . or PYTHONPATH=.).
set -uo pipefail
OUT="${OUT:-.}"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')"
python3 -m pytest -q -p no:cacheprovider tests/test_nmf.py tests/test_audio.py tests/test_classifier.py -k "cuda or planted or never_increases or seed" 2>&1 | tail -3
python3 benchmarks/bench_nmf.py --gpu-only --device cuda --json "$OUT/bench_nmf_gpu.json" | tail -2
python3 benchmarks/bench_classifier.py --dataset esc10 --preset cpu --device cuda --folds 1 2 3 4 5 --json "$OUT/bench_classifier_cpu_preset_gpu.json"
python3 benchmarks/bench_classifier.py --dataset esc10 --preset paper --device cuda --folds 1 2 3 4 5 --json "$OUT/bench_classifier_paper_preset_gpu.json"
