# Two commands set everything up on a fresh machine:
#   make reproduce [PROFILE=paper|smoke]   create .venv if missing, install, regenerate the paper's results
#                  [MODELS=SET]            (run profile; MODELS overrides its model set)
#   make test                              create .venv if missing, install, run the tests
PYTHON ?= python3
VENV ?= .venv
PROFILE ?= paper
MODELS ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.eventsep-installed

.PHONY: install test reproduce lab lint pins clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[notebooks,dev,data,demo]"
	-$(VENV)/bin/nbstripout --install 2>/dev/null && git config filter.nbstripout.clean "\"$(abspath $(PY))\" -m nbstripout --keep-id"
	touch $(STAMP)

install: $(STAMP)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

reproduce: install
	$(VENV)/bin/eventsep reproduce --profile $(PROFILE) $(if $(MODELS),--models $(MODELS))

lab: install
	$(PY) -m ipykernel install --prefix $(VENV) --name eventsep --display-name "Python (eventsep)"
	$(VENV)/bin/jupyter lab notebooks/

# ruff, then the layers contract of pyproject.toml ([tool.importlinter], docs/architecture.md).
lint: install
	$(VENV)/bin/ruff check eventsep tests benchmarks
	$(VENV)/bin/ruff format --check eventsep tests benchmarks
	$(VENV)/bin/lint-imports

pins: install
	$(PY) -m pip freeze --exclude-editable | grep -vi '^eventsep' | sed 's/+cpu$$//' > constraints.body
	{ head -2 constraints.txt; cat constraints.body; } > constraints.new && rm constraints.body && mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) figures/runs .pytest_cache
