# socialmix — everything installs from nothing: only Python 3.11 and make are assumed.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
DEMO_OUT ?= demo

.PHONY: demo test lint bench wheelhouse wheelhouse-check constraints install clean
# constraints.txt pins every package (and version) the test suite passed with; install and wheelhouse use it,
# so two wheelhouses built a month apart hold the same wheels.
CONSTRAINTS := -c constraints.txt

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PIP) install --quiet $(CONSTRAINTS) -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/socialmix demo $(DEMO_OUT)

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider   # includes every docstring example (tests/test_doctests.py)

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
	$(PIP) download --dest wheelhouse $(WHEEL_TARGET) $(CONSTRAINTS) '.[sas,stata]'
	$(PIP) download --dest wheelhouse $(WHEEL_TARGET) $(CONSTRAINTS) setuptools pip
	cp constraints.txt wheelhouse/
	@echo "wheelhouse/ ready ($$(ls wheelhouse/*.whl | wc -l) wheels, $$(du -sh wheelhouse | cut -f1)): carry it in and run"
	@echo "  python -m venv .venv && .venv/bin/pip install --no-index --find-links wheelhouse 'socialmix[sas,stata]'"
	@echo "  (Windows: .venv\\Scripts\\pip ...; see docs/secure-environment.md)"

# Does every runtime dependency resolve, as binary wheels pinned by constraints.txt, for a target
# platform? A dry run of `make wheelhouse` into a temporary directory (needs the package index).
wheelhouse-check: | $(PY)
	$(PY) .ci/wheelhouse_check.py --platform $(or $(firstword $(WHEEL_PLATFORM)),win_amd64) --python-version $(WHEEL_PYTHON)

# Re-pin after a dependency change, once `make test` passes: the venv's exact versions, keeping the
# hand-kept block of Windows-only packages at the end of constraints.txt.
constraints: $(STAMP)
	{ sed -n '1,/^# --- pinned/p' constraints.txt; \
	  $(PIP) freeze --all --exclude-editable | grep -vi '^socialmix=='; \
	  sed -n '/^# --- Windows-only/,$$p' constraints.txt; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) build *.egg-info wheelhouse $(DEMO_OUT)
