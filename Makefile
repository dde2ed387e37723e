# socialmix — everything installs from nothing: only Python 3.11 and make are assumed.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
DEMO_OUT ?= demo

.PHONY: demo test lint bench wheelhouse install clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/socialmix demo $(DEMO_OUT)

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check socialmix panel queries analyses tests benchmarks

bench: $(STAMP)
	$(PY) -m benchmarks.run

# Every wheel needed to install socialmix offline (see docs/secure-environment.md).
wheelhouse: $(STAMP)
	rm -rf wheelhouse && mkdir -p wheelhouse
	$(PIP) wheel --no-deps --wheel-dir wheelhouse .
	$(PIP) download --dest wheelhouse --only-binary=:all: --python-version 3.11 '.[sas]'
	$(PIP) download --dest wheelhouse --only-binary=:all: --python-version 3.11 setuptools wheel
	@echo "wheelhouse/ ready: copy it and run 'pip install --no-index --find-links wheelhouse socialmix'"

clean:
	rm -rf $(VENV) build *.egg-info wheelhouse $(DEMO_OUT)
