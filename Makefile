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
# Wheels are for this machine's platform and Python 3.11. For another target list every
# platform tag it accepts (pip does not widen them), e.g.
# WHEEL_PLATFORM="manylinux_2_28_x86_64 manylinux2014_x86_64" or WHEEL_PLATFORM=win_amd64.
WHEEL_PYTHON ?= 3.11
WHEEL_PLATFORM ?=
WHEEL_TARGET = --only-binary=:all: --python-version $(WHEEL_PYTHON) $(foreach p,$(WHEEL_PLATFORM),--platform $(p))
wheelhouse: | $(PY)
	rm -rf wheelhouse && mkdir -p wheelhouse
	$(PIP) wheel --no-deps --wheel-dir wheelhouse .
	$(PIP) download --dest wheelhouse $(WHEEL_TARGET) '.[sas]'
	$(PIP) download --dest wheelhouse $(WHEEL_TARGET) setuptools wheel pip
	@echo "wheelhouse/ ready ($$(ls wheelhouse | wc -l) wheels): carry it in and run"
	@echo "  python3.11 -m venv .venv && .venv/bin/pip install --no-index --find-links wheelhouse 'socialmix[sas]'"

clean:
	rm -rf $(VENV) build *.egg-info wheelhouse $(DEMO_OUT)
