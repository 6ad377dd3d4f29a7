# openai-ft pipeline. `make demo` and `make test` work on a fresh machine with only Python.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OFT    := $(BIN)/openai-ft
BACKEND ?= local
MODEL  ?= gpt-4.1-mini-2025-04-14
INPUT  ?= data/support_tickets.csv
OUT    ?= out
SEED   ?= 42

export OPENAI_FT_BACKEND := $(BACKEND)

.PHONY: install test check lint prepare validate upload train eval report demo serve clean

$(BIN)/.install-stamp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.install-stamp

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff format --check openai_ft tests benchmarks
	$(BIN)/ruff check openai_ft tests benchmarks
	$(BIN)/mypy openai_ft

check: lint test

prepare: install
	$(OFT) prepare $(INPUT) --user text --assistant intent --system-col system --out-dir $(OUT)/data --seed $(SEED)

validate: install
	$(OFT) validate $(OUT)/data/train.jsonl $(OUT)/data/validation.jsonl --model $(MODEL)

# Incremental: the same bytes are not uploaded twice, the same inputs attach to their job.
upload: install
	$(OFT) upload $(OUT)/data/train.jsonl $(OUT)/data/validation.jsonl --model $(MODEL)

train: install
	$(OFT) train --training-file $(OUT)/data/train.jsonl --validation-file $(OUT)/data/validation.jsonl --model $(MODEL) --suffix demo --seed $(SEED) --yes --wait

# The whole pipeline, offline, on the local backend: prepare -> validate -> upload -> train ->
# eval (base vs fine-tuned on the held-out test split) -> report.
demo: install
	$(MAKE) --no-print-directory prepare validate upload train eval report BACKEND=$(BACKEND)

eval: install
	$(OFT) eval --data $(OUT)/data/test.jsonl --model $(MODEL) --model @latest --scorer exact --scorer classification --temperature 0 --seed $(SEED) --require-better

report: install
	$(OFT) report latest --out $(OUT)/report

serve: install
	$(OFT) serve --port 8089

clean:
	rm -rf $(OUT) .openai-ft
