# The two everyday commands: `make preview` (render the kind stack offline) and `make test`.
PYTHON ?= python3
# Charts for `swan render`: the chart cache, or the shared upstream mirror beside the checkout.
MIRROR := $(wildcard ../shared/reference/charts)
export SWAN_CHARTS ?= $(if $(MIRROR),$(abspath $(MIRROR)),$(HOME)/.cache/swan-iac/charts)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: preview test bench schema golden clean

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

schema: $(STAMP)  ## regenerate config/swan-stack.schema.json and docs/config-reference.md from the config models
	$(BIN)/python -m stacks.config.schema
	$(BIN)/python -m stacks.config.reference

golden: $(STAMP)  ## refresh tests/fixtures/golden/ (renders of the fixture stacks) after an intended change
	$(BIN)/python tests/fixtures/golden.py

clean:
	rm -rf build

# The SWAN hub image's Python packages (Python 3.12) for tests/session, which runs the real hub.
HUB_VENV   := .venv-hub
HUB_STAMP  := $(HUB_VENV)/.installed
HUB_PYTHON ?= $(firstword $(foreach p,python3.12 /root/.pyenv/versions/3.12.1/bin/python,$(if $(shell $(p) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1 && echo ok),$(p))))

$(HUB_STAMP): tests/session/hub-image-requirements.txt
	@test -n "$(HUB_PYTHON)" || { echo "make: no Python 3.12 found for $(HUB_VENV) (neither python3.12 on PATH nor /root/.pyenv/versions/3.12.1/bin/python); set HUB_PYTHON=/path/to/python3.12" >&2; exit 1; }
	@$(HUB_PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' || { echo "make: HUB_PYTHON=$(HUB_PYTHON) is not Python 3.12 (the hub image's version)" >&2; exit 1; }
	test -d $(HUB_VENV) || $(HUB_PYTHON) -m venv $(HUB_VENV)
	$(HUB_VENV)/bin/pip install -q --upgrade pip
	$(HUB_VENV)/bin/pip install -q -r tests/session/hub-image-requirements.txt
	$(HUB_VENV)/bin/python -m compileall -q $(HUB_VENV)/lib >/dev/null
	touch $@

test: $(HUB_STAMP)
