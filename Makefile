# One entry point: `make run` (set up + run the pipeline) and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
# Stages run `python -m stages.…` through DVC: the project's environment must come first on PATH.
export PATH := $(BIN):$(PATH)

# `make help` lists the targets below with their `##` lines.
.PHONY: help results install run test test-fast ui serve app lint bench clean real-minifigures real-themes crossval real-themes-crossval \
        team-install team-up team-down team-status

help:                 ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):[^#]*## /  \1\t/' | expand -t 24

install: $(VENV)/.installed  ## create .venv and install the pinned requirements

$(VENV)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 needed, found {sys.version.split()[0]} (set PYTHON=/path/to/python3.11)"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pipeline.plots_page  # this clone's `dvc plots` page template, its charting scripts inline
	touch $@

run: install          ## create .venv, install pinned deps, run the whole pipeline
	dvc repro

PYTEST_WORKERS ?= 2
test: lint            ## lint, format and type checks, then every test (CPU, no network; PYTEST_WORKERS=2 in parallel)
	python -m pytest -n $(PYTEST_WORKERS) --dist loadfile

test-fast: lint       ## lint, format and type checks, then the unit tier: no pipeline runs, team stack, Ray or browser
	python -m pytest -n $(PYTEST_WORKERS) --dist loadfile -m "not integration and not team and not slow"

results: install      ## the metrics of the last run, from the metrics files (dvc metrics show)
	dvc metrics show

ui: install           ## MLflow UI on the project's store: http://127.0.0.1:5000
	mlflow ui --backend-store-uri sqlite:///mlflow/mlflow.db --host 127.0.0.1 --port 5000

TASK ?= minifigure
HOST ?= 127.0.0.1
serve: install        ## REST API for a task's champion: make serve TASK=minifigure PORT=5001 (127.0.0.1)
	python -m pipeline.serving --task $(TASK) --host $(HOST) --port $(or $(PORT),5001)

app: install          ## upload page for the champions: make app PORT=8501 (127.0.0.1; HOST=0.0.0.0 to share)
	python -m pipeline.app --host $(HOST) --port $(or $(PORT),8501)

lint: install         ## ruff check + ruff format --check + mypy (also run by `make test`; pre-commit runs the same)
	ruff check .
	ruff format --check .
	mypy

bench: install        ## benchmarks (not tests): print ratios
	python bench/train_overhead.py
	python bench/predict.py
	python bench/predict_ray.py

# Thin aliases of the README's plain commands: the defaults in params.yaml are the real-photo recipe.
REAL_MINIFIGURES ?= $(CURDIR)/../shared/data/lego-minifigures
REAL_SET_PHOTOS  ?= $(CURDIR)/../shared/data/set-photos
REAL_CATALOGUE   ?= $(CURDIR)/../shared/data/rebrickable-2021

real-minifigures: install  ## the minifigure model on a local Kaggle copy (REAL_MINIFIGURES=/abs/path), checked on set photos
	dvc exp run -S sources.minifigures.provider=local -S ++sources.minifigures.path=$(abspath $(REAL_MINIFIGURES)) \
		-S out_of_catalogue.minifigure=$(abspath $(REAL_SET_PHOTOS)) predict@minifigure out_of_catalogue@minifigure

REAL_THEMES = -S sources.sets.provider=local -S ++sources.sets.path=$(abspath $(REAL_SET_PHOTOS)) \
              -S sources.themes.provider=local -S ++sources.themes.path=$(abspath $(REAL_CATALOGUE))

real-themes: install  ## the theme model on local set photos + Rebrickable CSVs (REAL_SET_PHOTOS=…, REAL_CATALOGUE=…)
	dvc exp run $(REAL_THEMES) predict@theme

FOLDS ?= 5
crossval: install     ## k-fold cross-validation as DVC experiments: make crossval TASK=theme FOLDS=5 ARGS='-S key=value'
	python -m pipeline.crossval $(TASK) --folds $(FOLDS) $(ARGS)

real-themes-crossval: install  ## the theme recipe cross-validated on the real set photos (reports/crossval/theme/)
	python -m pipeline.crossval theme --folds $(FOLDS) $(REAL_THEMES)

# The team stack (docs/team.md): PostgreSQL + an S3 store (rclone) + mlflow server, state in .team/.
# Ports: TEAM_PG_PORT (5433), TEAM_S3_PORT (9000), TEAM_MLFLOW_PORT (5050); HOST (127.0.0.1); TEAM_DIR (.team).
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
team-install:         ## Debian's PostgreSQL server, when it is missing (the rest comes with requirements.txt)
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null \
		|| { $(SUDO) apt-get install -y --no-install-recommends postgresql >/dev/null 2>&1 \
		|| { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y --no-install-recommends postgresql; }; }

team-up: install team-install  ## start the team stack, set this checkout's DVC remote, print what teammates set
	HOST=$(HOST) python -m pipeline.team up

team-down: install    ## stop the team stack (its state in .team/ stays)
	python -m pipeline.team down

team-status: install  ## which pieces of the team stack are running
	python -m pipeline.team status

clean:                ## remove outputs and the local MLflow store (keeps .venv)
	rm -rf data/raw data/yolo data/predictions data/manifest.csv models reports mlflow/mlflow.db mlflow/artifacts .dvc/tmp .dvc/cache
