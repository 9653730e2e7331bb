# Two entry points for a fresh clone: `make demo` and `make test`.
# Both create (or refresh, when setup.cfg changes) the virtual environment
# .venv and install the package into it, CPU-only TensorFlow included.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FMNIST_DIR := /usr/share/datasets/fashion-mnist
DEMO_EPOCHS ?= 5
RUNS ?= runs
# Quiet TensorFlow's C++ start-up messages in the demo's output.
export TF_CPP_MIN_LOG_LEVEL ?= 2
# Count every tensor in TensorFlow's CPU memory statistics (keras_specnet.memory).
export TF_CPU_ALLOCATOR_USE_BFC ?= true

.PHONY: demo test test-fast lint data install clean twins tune-demo bft notebooks

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[tensorflow-cpu,plot,test]"
	# The notebooks' Jupyter kernel: this environment's Python (tests/test_notebooks.py).
	$(PY) -m ipykernel install --sys-prefix
	touch $(STAMP)

# Fashion-MNIST for offline machines: Debian's dataset-fashion-mnist package.
data:
	@if [ -d $(FMNIST_DIR) ]; then \
	  echo "Fashion-MNIST found in $(FMNIST_DIR)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get install -y -qq dataset-fashion-mnist || \
	   (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist)) \
	  || echo "could not install dataset-fashion-mnist; see docs/data.md"; \
	elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
	  sudo apt-get install -y -qq dataset-fashion-mnist \
	  || echo "could not install dataset-fashion-mnist; see docs/data.md"; \
	else \
	  echo "no apt-get here: TFDS will be tried, or pass --data-dir (docs/data.md)"; \
	fi

# Ends with its own wall time (the two trainings and the report).
demo: $(STAMP) data
	@start=$$(date +%s); \
	$(PY) -m keras_specnet train --model lenet5 --dataset fashion_mnist \
	  --epochs $(DEMO_EPOCHS) --verbose 2 --output $(RUNS)/lenet5.json && \
	$(PY) -m keras_specnet train --model spec_lenet5 --dataset fashion_mnist \
	  --epochs $(DEMO_EPOCHS) --verbose 2 --output $(RUNS)/spec_lenet5.json && \
	echo && \
	$(PY) -m keras_specnet report $(RUNS)/lenet5.json $(RUNS)/spec_lenet5.json; \
	status=$$?; \
	echo "make demo: wall time $$(( $$(date +%s) - start )) s"; \
	exit $$status

# The paper's architectures and their SpecNet twins, each pair with the same
# budget (a subset of Fashion-MNIST, small widths for 2 CPU cores).
TWINS_BUDGET ?= --epochs 3 --limit 20000 --verbose 2
ALEXNET_ARGS ?= --model-arg width=0.25 --model-arg fc_units=256
VGG16_ARGS ?= --model-arg width=0.25 --model-arg fc_units=256
DENSENET_ARGS ?= --model-arg width=0.5

twins: $(STAMP) data
	$(PY) -m keras_specnet train --model alexnet $(ALEXNET_ARGS) $(TWINS_BUDGET) --output $(RUNS)/alexnet.json
	$(PY) -m keras_specnet train --model spec_alexnet $(ALEXNET_ARGS) $(TWINS_BUDGET) --output $(RUNS)/spec_alexnet.json
	$(PY) -m keras_specnet train --model vgg16 $(VGG16_ARGS) $(TWINS_BUDGET) --output $(RUNS)/vgg16.json
	$(PY) -m keras_specnet train --model spec_vgg16 $(VGG16_ARGS) $(TWINS_BUDGET) --output $(RUNS)/spec_vgg16.json
	$(PY) -m keras_specnet train --model densenet $(DENSENET_ARGS) $(TWINS_BUDGET) --output $(RUNS)/densenet.json
	$(PY) -m keras_specnet train --model spec_densenet $(DENSENET_ARGS) $(TWINS_BUDGET) --output $(RUNS)/spec_densenet.json
	@for m in alexnet vgg16 densenet; do echo; \
	  $(PY) -m keras_specnet report $(RUNS)/$$m.json $(RUNS)/spec_$$m.json; done

# The suite runs on TEST_WORKERS processes (pytest-xdist); memory tests read
# the allocator of their own process, so they are unaffected.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --durations=15

# The suite without the tests marked slow (training, tuning, benchmarks).
test-fast: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) -m "not slow"

# ruff: the rules are in pyproject.toml.
lint: $(STAMP)
	$(VENV)/bin/ruff check keras_specnet tests
	$(VENV)/bin/ruff format --check keras_specnet tests

clean:
	rm -rf $(VENV) $(RUNS) build *.egg-info

# docs/benchmarks/tuning.md: a memory-aware search of SpecVGG16's beta, 6 trials
# of 2 epochs on 4,000 training images, scored on 1,000 held-out ones.
# Run again to resume (finished trials are kept in $(RUNS)/tune).
TUNE_ARGS ?= --max-trials 6 --epochs 2 --limit 4000 --validation-limit 1000

tune-demo: $(STAMP) data
	$(PY) -m keras_specnet tune --model spec_vgg16 --dataset fashion_mnist \
	  --model-arg width=0.25 --model-arg fc_units=256 \
	  --beta-range 0.005 0.1 --beta-sampling log --memory held --memory-budget 20 \
	  $(TUNE_ARGS) --directory $(RUNS)/tune --output $(RUNS)/tune_spec_vgg16.json --verbose 2

# docs/benchmarks/butterfly.md: the Butterfly Transform comparison, pointwise MobileNetV1 / ShuffleNetV2
# against their BFT forms at matched multiply-adds on 28x28 Fashion-MNIST
# (utils.count_flops: MobileNetV1-0.25 2.90 M vs BFT-0.7 2.92 M; ShuffleNetV2-0.5
# 9.00 M vs BFT-1.5 9.04 M), each pair with the same budget.
BFT_BUDGET ?= --epochs 3 --limit 20000 --verbose 2

bft: $(STAMP) data
	$(PY) -m keras_specnet train --model mobilenet_v1 --model-arg alpha=0.25 $(BFT_BUDGET) --output $(RUNS)/mobilenet_v1.json
	$(PY) -m keras_specnet train --model mobilenet_v1_bft --model-arg alpha=0.7 $(BFT_BUDGET) --output $(RUNS)/mobilenet_v1_bft.json
	$(PY) -m keras_specnet train --model shufflenet_v2 --model-arg scale=0.5 $(BFT_BUDGET) --output $(RUNS)/shufflenet_v2.json
	$(PY) -m keras_specnet train --model shufflenet_v2_bft --model-arg scale=1.5 $(BFT_BUDGET) --output $(RUNS)/shufflenet_v2_bft.json
	@for m in mobilenet_v1 shufflenet_v2; do echo; \
	  $(PY) -m keras_specnet report $(RUNS)/$$m.json $(RUNS)/$${m}_bft.json; done

# The notebooks at full size (SMOKE = False), each in a Jupyter kernel of the
# environment's Python; the executed copies, pictures included, go to
# $(RUNS)/notebooks (docs/notebooks.md). NOTEBOOKS picks some: NOTEBOOKS=02_memory.
NOTEBOOKS ?=

notebooks: $(STAMP) data
	$(PY) notebooks/run.py --output $(RUNS)/notebooks $(NOTEBOOKS)
