# One entry point: `make run` (set up + run the pipeline) and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
# Stages run `python -m stages.…` through DVC: the project's environment must come first on PATH.
export PATH := $(BIN):$(PATH)

.PHONY: install run test ui lint bench clean real-minifigures

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 needed, found {sys.version.split()[0]} (set PYTHON=/path/to/python3.11)"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

run: install          ## create .venv, install pinned deps, run the whole pipeline
	dvc repro

test: install         ## the test suite (CPU, no network)
	python -m pytest

ui: install           ## MLflow UI on the project's store: http://127.0.0.1:5000
	mlflow ui --backend-store-uri sqlite:///mlflow/mlflow.db --host 127.0.0.1 --port 5000

lint: install
	ruff check . && ruff format --check .

bench: install        ## benchmarks (not tests): print ratios
	python bench/train_overhead.py

# The from-scratch recipe for the real Kaggle photos (docs/recipe.md): pretrain on the project's synthetic
# minifigures, keep those weights outside the DVC outputs, then fine-tune on the real photos. The recipe was
# chosen with split.refit=false (held-out validation); this final fit also trains on the validation photos.
REAL_MINIFIGURES ?= $(CURDIR)/../shared/data/lego-minifigures
PRETRAINED       := models/pretrained/synthetic-minifigure.pt
RECIPE := -S split.min_val_per_class=2 -S split.refit=true -S train.epochs=400 -S train.imgsz=128 \
	-S ++train.overrides.scale=0.7 -S ++train.overrides.erasing=0.5 -S ++train.overrides.dropout=0.2 \
	-S ++train.overrides.cos_lr=true -S ++train.overrides.cache=ram

real-minifigures: install  ## train + evaluate the real-photo recipe (REAL_MINIFIGURES=/abs/path/to/lego-minifigures)
	dvc exp run -S sources.minifigures.provider=synthetic train@minifigure
	mkdir -p $(dir $(PRETRAINED)) && cp models/minifigure/weights/best.pt $(PRETRAINED)
	dvc exp run -S sources.minifigures.provider=local \
		-S sources.minifigures.path=$(abspath $(REAL_MINIFIGURES)) -S train.model=$(PRETRAINED) $(RECIPE) predict@minifigure

clean:                ## remove outputs and the local MLflow store (keeps .venv)
	rm -rf data/raw data/yolo data/predictions data/manifest.csv models reports mlflow/mlflow.db mlflow/artifacts .dvc/tmp .dvc/cache
