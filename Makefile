# Every target builds what it needs from a bare `python3`.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
PY := $(BIN)/python
PYTEST_WORKERS ?= 2

.PHONY: demo test lint bench docs clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

$(VENV)/.installed-torch: $(BIN)/activate
	$(PY) -m pip install "$(TORCH)"
	touch $@

$(VENV)/.installed-demo: $(VENV)/.installed-torch pyproject.toml
	$(PY) -m pip install -e ".[demo]"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-torch pyproject.toml
	$(PY) -m pip install -e ".[test]"
	touch $@

demo: $(VENV)/.installed-demo
	$(PY) examples/digits.py

lint: $(VENV)/.installed-test
	$(BIN)/ruff check torchtnt tests examples bench
	$(BIN)/ruff format --check torchtnt tests examples bench

test: lint
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q tests

bench: $(VENV)/.installed-test
	$(PY) bench/loop_overhead.py --reps 21
	$(PY) bench/checkpoint.py

docs: $(VENV)/.installed-test
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) build *.egg-info
