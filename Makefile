# The two commands of the README: `make demo` and `make test`. Each builds .venv from nothing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Pinned for development and CI only: this CPU wheel lies on the machine's disk.
# The library itself declares torch>=2.2.
TORCH_PIN := torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: demo test test-integrations lint bench mutation mutation-all docs clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_PIN)"
	$(PY) -m pip install -q "$(TORCH_PIN)" -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -n 2 --doctest-modules sktorch tests -m "not integrations"

# The optional integrations (wandb, neptune, sacred, gpytorch, transformers, accelerate):
# installed on top of .venv; then their tests and the doctests of their packages.
test-integrations: $(STAMP)
	$(PY) -m pip install -q "$(TORCH_PIN)" -e ".[test,integrations]"
	$(PY) -m pytest -m integrations tests
	$(PY) -m pytest --doctest-modules sktorch/hf sktorch/probabilistic sktorch/llm

lint: $(STAMP)
	$(PY) -m ruff check .

# Mutation testing of the core modules ([tool.mutmut] in pyproject.toml; MUTATION.md).
# `make mutation` checks a fixed 10% sample, every function's mutants numbered ..3
# (3, 13, 23, ...; MUTATION_DIGIT picks another tenth), ~670 mutants: 21 minutes on 2 idle cores.
# `make mutation-all` checks every mutant not checked yet (hours on 2 cores); results are
# kept in mutants/ until their function changes. Named mutants are checked again:
# make mutation MUTANTS='sktorch._weights.*'.
DEV_STAMP := $(VENV)/.installed-dev
MUTATION_DIGIT ?= 3
MUTANTS ?= sktorch.*__mutmut_*$(MUTATION_DIGIT)

$(DEV_STAMP): $(STAMP)
	$(PY) -m pip install -q "$(TORCH_PIN)" -e ".[dev]"
	touch $(DEV_STAMP)

mutation: $(DEV_STAMP)
	$(VENV)/bin/mutmut run --max-children 2 $(MUTANTS)
	$(PY) tools/mutation_report.py --interval --survivors --pattern "$(MUTANTS)"

mutation-all: $(DEV_STAMP)
	$(VENV)/bin/mutmut run --max-children 2
	$(PY) tools/mutation_report.py --survivors

# The documentation site (MkDocs): its examples run while it builds; warnings are errors.
DOCS_STAMP := $(VENV)/.installed-docs
$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install -q "$(TORCH_PIN)" -e ".[docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	rm -rf site
	MPLBACKEND=Agg NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site
	@echo "Documentation site: site/index.html"

bench: $(STAMP)
	$(PY) -m pip install -q "$(TORCH_PIN)" -e ".[bench]" || echo "skorch not installable: benchmarks run without it"
	$(PY) benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build site *.egg-info mutants
