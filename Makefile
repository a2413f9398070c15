# The two everyday commands: `make preview` (render the kind stack offline) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: preview test bench schema clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

preview: $(STAMP)  ## what `pulumi up -s kind` would create, rendered offline
	$(BIN)/swan render kind

test: $(STAMP)  ## the whole test suite
	$(BIN)/pytest

bench: $(STAMP)  ## benchmarks (print numbers, assert nothing)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

schema: $(STAMP)  ## regenerate config/swan-stack.schema.json from the config models
	$(BIN)/python -m stacks.config.schema

clean:
	rm -rf build
