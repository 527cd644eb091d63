# l2i: two commands. `make reproduce` installs and runs the main job; `make test` installs and tests.
# `make test-fast` runs the unit tests only (no notebooks, no browser): under 3 minutes on 2 cores.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
# The audio is found through $(L2I_DATA), taken from the environment (see the README's Data section).
export L2I_DATA
DATASET ?= esc10
PRESET ?= cpu

.PHONY: install test test-fast reproduce readme lint clean

install:
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[dev]"
	# the pretrained aiSFX backbone (preset aisfx): its checkpoint only; its pins (librosa 0.9.2,
	# numpy 1.23) cannot coexist with ours, so never its dependencies
	$(PIP) install --no-deps aisfx==0.1.2

test: install
	$(PYTHON) -m pytest -q

test-fast:
	$(PYTHON) -m pytest -q -m "not notebook and not browser and not slow"

# Steps whose outputs are current are skipped; `make reproduce FORCE=1` runs every notebook again.
REPRODUCE_FLAGS = --preset $(PRESET) $(if $(FORCE),--force)

reproduce: install
	$(PYTHON) -m l2i_core.pipeline reproduce --dataset $(DATASET) $(REPRODUCE_FLAGS)
	$(PYTHON) -m l2i_core.pipeline reproduce --dataset urbanmix $(REPRODUCE_FLAGS)
	# the pretrained aiSFX backbone fine-tuned on the 50-class ESC-50 clips (preset aisfx, its own front end)
	$(PYTHON) -m l2i_core.pipeline reproduce --dataset esc50-fold4 --preset aisfx $(if $(FORCE),--force)
	$(PYTHON) -m l2i_core.pipeline readme

readme:
	$(PYTHON) -m l2i_core.pipeline readme

lint:
	$(PYTHON) -m ruff check .

clean:
	rm -rf artifacts .pytest_cache
