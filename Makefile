# Two entry points that set themselves up on a fresh Debian machine with Python 3.11:
#   make demo   - train the default zoo model on Fashion-MNIST, write metrics and pictures
#   make test   - run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA_DIR ?= /usr/share/datasets/fashion-mnist
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup data demo test test-slow bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

setup: $(VENV)/.installed data

# The Debian package ships the original Fashion-MNIST IDX files; install it when apt is usable.
data:
	@if [ ! -f "$(DATA_DIR)/t10k-images-idx3-ubyte.gz" ] && [ -z "$$VAEZOO_DATA_DIR" ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; \
	  else echo "Fashion-MNIST IDX files missing: install the Debian package dataset-fashion-mnist or set VAEZOO_DATA_DIR"; fi; \
	fi

demo: setup
	$(VENV)/bin/vaezoo train mlp_vae_fashion_mnist --out runs/demo

test: setup
	$(PY) -m pytest -q -n 2

test-slow: setup
	$(PY) -m pytest -q -m slow

bench: setup
	$(PY) benchmarks/throughput.py
	$(PY) benchmarks/likelihood.py

clean:
	rm -rf $(VENV) runs
