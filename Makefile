# l2i: two commands. `make reproduce` installs and runs the main job; `make test` installs and tests.
# `make test-fast` runs the unit tests only (no notebooks, no browser): under 3 minutes on 2 cores.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
# The audio is found through $(L2I_DATA), taken from the environment (see the README's Data section).
export L2I_DATA
DATASET ?= esc10
PRESET ?= cpu

# `make reproduce AS_AVX2=1`: run as a CPU with AVX2 but no AVX-512 and no native bf16 (l2i_core.train.engine.AVX2_NO_BF16_ENV).
ifdef AS_AVX2
export ATEN_CPU_CAPABILITY = avx2
export ONEDNN_MAX_CPU_ISA = AVX2
export MKL_ENABLE_INSTRUCTIONS = AVX2
endif

.PHONY: install test test-fast reproduce readme lint clean

install:
	$(PIP) install -q --disable-pip-version-check torch==2.13.0
	$(PIP) install -q --disable-pip-version-check -e ".[dev]"
	# the pretrained aiSFX backbone (preset aisfx): its checkpoint only; its pins (librosa 0.9.2,
	# numpy 1.23) cannot coexist with ours, so never its dependencies
	$(PIP) install -q --disable-pip-version-check --no-deps aisfx==0.1.2

test: install
	$(PYTHON) -m pytest -q

test-fast:
	$(PYTHON) -m pytest -q -m "not notebook and not browser and not slow"

# Steps whose outputs are current are skipped; `make reproduce FORCE=1` runs every notebook again.
REPRODUCE_FLAGS = --preset $(PRESET) $(if $(FORCE),--force)

# Then the pretrained aiSFX backbone fine-tuned on the 50 ESC-50 classes (preset aisfx, its own front end).
# Each notebook is one line of the log (its time and report); the last line is the total and where the reports are.
reproduce: install
	@start=$$(date +%s) && \
	$(PYTHON) -m l2i_core reproduce --dataset $(DATASET) $(REPRODUCE_FLAGS) && \
	$(PYTHON) -m l2i_core reproduce --dataset urbanmix $(REPRODUCE_FLAGS) && \
	$(PYTHON) -m l2i_core reproduce --dataset esc50-fold4 --preset aisfx $(if $(FORCE),--force) && \
	$(PYTHON) -m l2i_core readme && \
	echo "make reproduce: total $$(( $$(date +%s) - start )) s; reports in reports/ (open reports/index.html)"

readme:
	$(PYTHON) -m l2i_core readme

lint:
	$(PYTHON) -m ruff check .

clean:
	rm -rf artifacts .pytest_cache
