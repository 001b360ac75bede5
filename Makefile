# Quickstart: `make demo` (train a little, generate, translate with the built-in model) and `make test` (lint, types, tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_MINUTES ?= 4
DEMO_STEPS ?= 2400

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	@echo "training recipes/shakespeare.yaml for $(DEMO_MINUTES) minutes (progress on stderr)..." >&2
	@run=$$($(BIN)/rnn train recipes/shakespeare.yaml --output runs/demo \
		--set training.max_minutes=$(DEMO_MINUTES) --set training.max_steps=$(DEMO_STEPS) \
		--set training.eval_every=500) && \
	echo "run directory: $$run; generating from \"He ate\":" >&2 && \
	$(BIN)/rnn generate --model "$$run" --seed "He ate" -n 400 --temperature 0.7 --rng-seed 7
	@echo "" >&2; echo "the built-in English->French translator (beam 5):" >&2
	@printf 'I am cold.\nWhere is the station?\nHe ate the pie happily.\n' | $(BIN)/rnn translate

test: $(VENV)/.installed-dev
	$(BIN)/ruff check rnncli tests benchmarks examples
	$(BIN)/ruff format --check rnncli tests benchmarks examples
	$(BIN)/mypy rnncli
	$(BIN)/pytest -q
	@echo "the float comparisons across batch shapes and threads, again with 2 torch threads:"
	$(BIN)/pytest -q -m threads --threads 2

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix rnncli tests benchmarks examples
	$(BIN)/ruff format rnncli tests benchmarks examples

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_lm.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
