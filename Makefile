# Quick start: `make demo` (set up + enhance the bundled pairs with the shipped weights), `make test` (set up + run the
# test suite; `make test-fast` leaves out the tests marked slow, for the edit-test loop); `make train-demo` trains ICLR
# for a few iterations on the bundled pairs; `make app` (set up + start the local web app on http://127.0.0.1:7860).
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: venv test test-fast demo train-demo app

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# The optional extras: the web app's (Gradio) and the tests' (the app's, Playwright for its browser test).
$(VENV)/.installed-%: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[$*]'
	touch $@

test: $(VENV)/.installed-test
	$(PY) -m pytest -q tests

test-fast: $(VENV)/.installed-test
	$(PY) -m pytest -q -m "not slow" tests

demo: venv
	$(PY) eval.py --demo

train-demo: venv
	$(PY) train.py --demo

app: $(VENV)/.installed-app
	$(PY) app.py
