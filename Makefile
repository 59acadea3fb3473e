# Two entry points that set themselves up on a fresh Debian machine with Python 3.11:
#   make demo   - train the default zoo model on Fashion-MNIST, evaluate it on a subset,
#                 write metrics and pictures (about 5 minutes on 2 cores)
#   make test   - run the test suite
#   make bench  - rerun every benchmark of docs/benchmarks.md into benchmarks/results/
#                 (hours on 2 cores; one of them: make bench-throughput, bench-likelihood, ...)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA_DIR ?= /usr/share/datasets/fashion-mnist
export TF_CPP_MIN_LOG_LEVEL ?= 2

BENCHMARKS := bench-throughput bench-likelihood bench-structured-output \
              bench-conditional-generation bench-semi-supervised bench-vq-vae
.PHONY: setup data demo test test-slow bench $(BENCHMARKS) zoo-table clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,tensorboard]"
	touch $@

setup: $(VENV)/.installed data

# The Debian package ships the original Fashion-MNIST IDX files; install it when apt is usable.
data:
	@if [ ! -f "$(DATA_DIR)/t10k-images-idx3-ubyte.gz" ] && [ -z "$$VAEZOO_DATA_DIR" ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; \
	  else echo "Fashion-MNIST IDX files missing: install the Debian package dataset-fashion-mnist or set VAEZOO_DATA_DIR"; fi; \
	fi

# The demo's final evaluation is a subset (K = 100 importance samples on the first 1,000
# test images, about 1% of the full protocol's work) so the demo ends in about 5 minutes on
# 2 cores; the full protocol (K = 1000, all 10,000 test images, ~10 min there) is
# `vaezoo evaluate runs/demo`. A rerun of a finished demo prints its stored metrics.
DEMO_EVAL ?= --num-samples 100 --max-examples 1000
demo: setup
	$(VENV)/bin/vaezoo train mlp_vae_fashion_mnist --out runs/demo $(DEMO_EVAL)
	@echo "vaezoo: pictures of the demo: runs/demo/samples.png, runs/demo/reconstructions.png"

test: setup
	$(PY) -m pytest -q -n 2 --durations=15

test-slow: setup
	$(PY) -m pytest -q -m slow

# The commands of docs/benchmarks.md; each merges its runs into benchmarks/results/NAME.{json,md}.
bench: $(BENCHMARKS)

bench-throughput: setup
	$(PY) benchmarks/throughput.py --rounds 11

bench-likelihood: setup
	$(PY) benchmarks/likelihood.py --configs mlp_vae_fashion_mnist iwae_vae_fashion_mnist \
	  vamp100_vae_fashion_mnist --epochs 10 --num-samples 5000

bench-structured-output: setup
	$(PY) benchmarks/structured_output.py --epochs 10 --test-examples 2000 --num-samples 100

bench-conditional-generation: setup
	for seed in 0 1 2; do $(PY) benchmarks/conditional_generation.py \
	  --load conditional_vae_fashion_mnist --classifier-epochs 5 --seed $$seed || exit 1; done
	for seed in 0 1 2; do $(PY) benchmarks/conditional_generation.py \
	  --load conv_conditional_vae_fashion_mnist --classifier-epochs 5 --seed $$seed \
	  --target 0.9 || exit 1; done

bench-semi-supervised: setup
	$(PY) benchmarks/semi_supervised.py --labels 100 600 1000 3000 --seeds 0 1 2 --m2-epochs 3

bench-vq-vae: setup
	$(PY) benchmarks/vq_vae.py --load vqvae_fashion_mnist

# The README's zoo table, from the pretrained entries' model cards (tools/zoo_table.py --check
# only says whether it is up to date).
zoo-table: setup
	$(PY) tools/zoo_table.py

clean:
	rm -rf $(VENV) runs
