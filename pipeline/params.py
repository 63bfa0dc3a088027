"""The one typed model of `params.yaml`, validated once per stage.

Every key is declared here (the `sources` section, one model per provider, in `pipeline.source_params`); an
unknown key, a wrong type or a missing path fails with one line that names the key (see `ParamsError`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline import params_trace
from pipeline.paths import PROJECT_ROOT
from pipeline.source_params import Sources, Strict, project_path

TASK_NAME = r"^[a-z][a-z0-9_]*$"  # a folder, a DVC stage suffix (train@<task>) and a manifest column
# ImageNet weights installed with pip (pipeline.backbones.BACKBONES)
PACKAGED_BACKBONES = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")
SYNTHETIC_PRETRAIN = "synthetic-pretrain"  # train.<task>.model: fine-tune from pretrain@<task> (pipeline.pretraining)


class ParamsError(ValueError):
    """A one-line, user-facing error about `params.yaml`."""


class TaskSpec(Strict):
    """A classifier `dvc repro` builds, declared once under `tasks.<name>`: every stage derives from it."""

    label: str | None = None  # the manifest column that is the class; default: the task's name
    sources: list[Literal["minifigures", "sets", "custom", "feedback"]] = ["custom", "feedback"]
    group: str | None = None  # a coarser manifest column the predictions are also scored at (<group>_top1)
    pretraining: Literal["minifigures", "sets"] | None = None  # what pretrain.<task> renders (pipeline.pretraining)


class Task(TaskSpec):
    """A declared task with its name and label column filled in."""

    name: str
    label: str


DEFAULT_TASKS = {
    "minifigure": TaskSpec(
        label="character", sources=["minifigures", "custom", "feedback"], group="universe", pretraining="minifigures"
    ),
    "theme": TaskSpec(label="theme_group", sources=["sets", "custom", "feedback"], pretraining="sets"),
}
SHARED_SOURCES = ("custom", "feedback")  # folders of <task>/<class>/<images>: a row belongs to one task's label column


def declared(specs: dict[str, TaskSpec]) -> list[Task]:
    """The tasks of a `tasks:` section, each with its name and label column."""
    return [
        Task(name=name, **spec.model_dump(exclude={"label"}), label=spec.label or name) for name, spec in specs.items()
    ]


class SyntheticMinifigures(Strict):
    classes: Annotated[int, Field(ge=2, le=64)] = 6
    train_per_class: Annotated[int, Field(ge=3)] = 16
    test_per_class: Annotated[int, Field(ge=1)] = 6
    image_size: Annotated[int, Field(ge=32, le=1024)] = 160


class SyntheticSets(Strict):
    count: Annotated[int, Field(ge=8)] = 100
    image_height: Annotated[int, Field(ge=32, le=1024)] = 160


class Synthetic(Strict):
    minifigures: SyntheticMinifigures = SyntheticMinifigures()
    sets: SyntheticSets = SyntheticSets()


class Validate(Strict):
    min_side: Annotated[int, Field(ge=1)] = 32
    max_side: Annotated[int, Field(ge=1)] = 8192
    max_bytes: Annotated[int, Field(ge=1)] = 20_000_000
    modes: list[str] = ["RGB", "L", "RGBA", "P", "CMYK"]


class Split(Strict):
    val_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.15
    test_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.15
    min_per_class: Annotated[int, Field(ge=3)] = 3
    min_val_per_class: Annotated[int, Field(ge=1)] = 2
    calibration_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.1  # never trained on; 0: calibrate on val
    oversample: bool = False
    refit: bool = True  # the final fit of a chosen recipe: validation images are trained on too
    folds: Annotated[int, Field(ge=2)] = 5
    test_fold: Annotated[int, Field(ge=0)] | None = None  # test = this fold of `folds` (cross-validation) or a draw

    @model_validator(mode="after")
    def _test_fold_in_range(self) -> Split:
        if self.test_fold is not None and self.test_fold >= self.folds:
            raise ValueError(f"test_fold {self.test_fold} is not one of the {self.folds} folds (0 to {self.folds - 1})")
        return self


Device = Literal["auto", "cpu"] | int | list[int] | str


RECIPE_OVERRIDES = {"freeze": 5, "dropout": 0.2, "cos_lr": True, "warmup_bias_lr": 0.0, "cache": "ram"}


class Train(Strict):
    """One task's training; the defaults are the real-photo recipe of params.yaml (docs/recipe.md)."""

    model: str = "efficientnet-lite0"
    epochs: Annotated[int, Field(ge=1)] = 20
    imgsz: Annotated[int, Field(ge=32)] = 224
    batch: Annotated[int, Field(ge=1)] = 32
    device: Device = "auto"
    workers: Annotated[int, Field(ge=0)] = 2
    patience: Annotated[int, Field(ge=1)] = 100
    optimizer: str = "AdamW"
    lr0: Annotated[float, Field(gt=0)] = 0.001
    ensemble: Annotated[int, Field(ge=1)] = 1  # members trained with seeds seed, seed+1, …; their mean is the model
    overrides: dict[str, object] = RECIPE_OVERRIDES

    @field_validator("model")
    @classmethod
    def _model_source(cls, value: str) -> str:
        """A packaged ImageNet backbone (`efficientnet-lite0`), a model YAML, a local `.pt`, or an Ultralytics release
        name (`yolov8s-cls.pt`, resolved at train time)."""
        if value in (*PACKAGED_BACKBONES, SYNTHETIC_PRETRAIN) or value.endswith(".yaml"):
            return value
        if not value.endswith(".pt"):
            raise ValueError(
                f"expected one of {[*PACKAGED_BACKBONES, SYNTHETIC_PRETRAIN]}, a model YAML (e.g. yolov8n-cls.yaml) or a .pt checkpoint, "
                f"got {value!r}"
            )
        path = Path(value).expanduser()
        if "/" not in value and not path.exists():
            return value  # a pretrained release asset: pipeline.training.resolve_model fetches or refuses it
        path = path if path.is_absolute() else PROJECT_ROOT / path
        if not path.exists():
            raise ValueError(f"weights file does not exist: {path}")
        return str(path)


class Pretrain(Strict):
    """Synthetic pretraining of one task (`pretrain@<task>`, the from-scratch recipe): what to render, how to train.

    Minifigure: `classes` characters with `per_class` training images each (a fifth as many validate); theme:
    `per_class` box-art images per theme group on average (every fifth validates)."""

    classes: Annotated[int, Field(ge=2, le=64)] = 10
    per_class: Annotated[int, Field(ge=5)] = 40
    image_size: Annotated[int, Field(ge=32, le=1024)] = 160
    train: Train = Train(model="yolov8n-cls.yaml", epochs=30, imgsz=128, optimizer="auto", lr0=0.01, overrides={})


class Calibrate(Strict):
    """The temperature and the "unknown" threshold (pipeline/calibration.py), fitted on the calibration split, or
    with `folds` ≥ 2 on out-of-fold predictions of the training pictures (pipeline/out_of_fold.py)."""

    in_distribution_recall: Annotated[float, Field(gt=0, le=1)] = 0.95  # share of known-class images answered
    batch: Annotated[int, Field(ge=1)] = 32
    folds: Annotated[int, Field(ge=0)] = 0  # 0: the calibration split; K ≥ 2: K models trained on the other folds

    @field_validator("folds")
    @classmethod
    def _no_single_fold(cls, folds: int) -> int:
        if folds == 1:
            raise ValueError("1 fold holds nothing out: 0 (the calibration split) or at least 2")
        return folds


class Evaluate(Strict):
    batch: Annotated[int, Field(ge=1)] = 32


class Predict(Strict):
    input: dict[str, str] = {task: f"data/yolo/{task}/test" for task in ("minifigure", "theme")}
    batch: Annotated[int, Field(ge=1)] = 32
    top_k: Annotated[int, Field(ge=1)] = 5
    review: Annotated[int, Field(ge=0)] = 50  # the review queue: every "unknown", then this many least confident
    engine: Literal["local", "ray"] = "local"  # ray: Ray Data actors (a cluster through RAY_ADDRESS), same outputs

    def input_dir(self, task: str) -> Path:
        if task not in self.input:
            raise ParamsError(f"params.yaml: predict.input has no folder for task '{task}'")
        return project_path(self.input[task])


class App(Strict):
    """The upload page (`make app`, pipeline/app/)."""

    max_upload_mb: Annotated[int, Field(ge=1, le=200)] = 20  # per file; larger ones are refused on the page
    similar: Annotated[int, Field(ge=0, le=12)] = 3  # training images shown beside each answer
    mlflow_ui: str = "http://127.0.0.1:5000"  # where `make ui` serves: the page links each model to its run there (a tracking server: its own URL)


class Params(Strict):
    seed: int = 42
    tasks: dict[Annotated[str, Field(pattern=TASK_NAME)], TaskSpec] = DEFAULT_TASKS
    sources: Sources = Sources()
    synthetic: Synthetic = Synthetic()
    theme_groups: dict[str, list[str]]
    themes_left_out: list[str] = []  # sub-themes taken out of their root's group (pipeline.themes)
    validate_: Validate = Field(Validate(), alias="validate")
    split: Split = Split()
    # one section per task (`null`: no pretraining), so `pretrain@<task>`/`train@<task>` depend on their own alone
    pretrain: dict[str, Pretrain | None] = {"minifigure": None, "theme": None}
    train: dict[str, Train] = {
        "minifigure": Train(epochs=30),
        "theme": Train(overrides={**RECIPE_OVERRIDES, "cls_pw": 1.0}),
    }
    calibrate: Calibrate = Calibrate()
    evaluate: Evaluate = Evaluate()
    predict: Predict = Predict()
    # task → a folder of pictures that show none of its classes (out_of_catalogue@<task>, pipeline/out_of_catalogue.py)
    out_of_catalogue: dict[str, str] = {"minifigure": "data/raw/sets/images"}
    app: App = App()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _a_section_per_task(self) -> Params:
        """DVC reads `train.<task>` and `pretrain.<task>` for each task's stages: each must be in params.yaml."""
        for section in ("train", "pretrain"):
            missing = sorted(set(self.tasks) - set(getattr(self, section)))
            if missing:
                raise ValueError(
                    f"{section}: no section for task {missing[0]!r} (every task in tasks needs {section}.<task>)"
                )
            stray = sorted(set(getattr(self, section)) - set(self.tasks))
            if stray:
                raise ValueError(f"{section}.{stray[0]}: not a task in tasks {list(self.tasks)}")
        return self

    @model_validator(mode="after")
    def _pretraining_is_declared(self) -> Params:
        for name, section in self.pretrain.items():
            if section is not None and self.tasks[name].pretraining is None:
                raise ValueError(
                    f"pretrain.{name}: task {name!r} declares no pretraining renderer (tasks.{name}.pretraining)"
                )
        return self

    @model_validator(mode="after")
    def _predict_matches_tasks(self) -> Params:
        if set(self.predict.input) != set(self.tasks):
            raise ValueError(
                f"predict.input needs exactly one folder per task in {list(self.tasks)}, has {sorted(self.predict.input)}"
            )
        return self

    @model_validator(mode="after")
    def _out_of_catalogue_tasks_are_tasks(self) -> Params:
        stray = sorted(set(self.out_of_catalogue) - set(self.tasks))
        if stray:
            raise ValueError(
                f"out_of_catalogue: {stray} not in tasks {list(self.tasks)} (remove them; {{}} checks none)"
            )
        return self

    @model_validator(mode="after")
    def _out_of_fold_needs_no_calibration_split(self) -> Params:
        if self.calibrate.folds and self.split.calibration_fraction:
            raise ValueError(
                f"calibrate.folds {self.calibrate.folds} fits on out-of-fold predictions: set "
                "split.calibration_fraction to 0, or its pictures are kept out of training for nothing"
            )
        return self

    @model_validator(mode="after")
    def _pretrained_model_needs_pretraining(self) -> Params:
        for task in self.tasks:
            if self.train_for(task).model == SYNTHETIC_PRETRAIN and self.pretrain_for(task) is None:
                raise ValueError(f"train.{task}.model: {SYNTHETIC_PRETRAIN!r} needs a pretrain.{task} section")
        return self

    def out_of_catalogue_dir(self, task: str) -> Path:
        if task not in self.out_of_catalogue:
            raise ParamsError(f"params.yaml: out_of_catalogue has no folder for task '{task}'")
        return project_path(self.out_of_catalogue[task])

    def known_task(self, name: str) -> str:
        """`name` (a stage's argument) if it is a declared task; one line naming the declared ones if not."""
        if name not in self.tasks:
            raise ParamsError(f"params.yaml: tasks: no task {name!r} (declared: {', '.join(self.tasks)})")
        return name

    def task(self, name: str) -> Task:
        """The declaration of task `name`, for the stages that read it (split, pretrain, evaluate)."""
        return declared({self.known_task(name): self.tasks[name]})[0]

    def declared_tasks(self) -> list[Task]:
        return declared(self.tasks)

    def pretrain_for(self, task: str) -> Pretrain | None:
        return self.pretrain[task]

    def train_for(self, task: str) -> Train:
        return self.train[task]


def _user_key(loc: tuple[int | str, ...], raw: object) -> tuple[str, str | None]:
    """The dotted key as written in params.yaml, and the provider whose model refused it.

    In a tagged union pydantic's `loc` carries the tag (`sources.sets.synthetic.rate_limit`), which is no key of
    the file: it is the section's own `provider`, so it is dropped where the input's `provider` says so."""
    keys: list[str] = []
    provider, node, tag_seen = None, raw, False
    for part in loc:
        if not tag_seen and isinstance(node, dict) and node.get("provider") == part:
            provider, tag_seen = str(part), True
            continue
        keys.append(str(part))
        tag_seen = False
        if isinstance(node, dict):
            node = node.get(part)
        else:
            node = node[part] if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node) else None
    return ".".join(keys), provider


def _one_line(error: ValidationError, source: Path, raw: object) -> str:
    first = error.errors()[0]
    key, provider = _user_key(first["loc"], raw)
    message = first["msg"].removeprefix("Value error, ")
    of_provider = f" for provider '{provider}'" if provider else ""
    if first["type"] == "extra_forbidden":
        message = f"unknown key{of_provider}"
    elif first["type"] == "missing":
        message = f"required key is missing{of_provider}"
    elif first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        ctx = first.get("ctx", {})
        key = ".".join(filter(None, [key, ctx.get("discriminator", "").strip("'")]))
        message = (
            f"expected one of {ctx['expected_tags']}, got '{ctx['tag']}'"
            if first["type"] == "union_tag_invalid"
            else "required key is missing"
        )
    more = f" (+{len(error.errors()) - 1} more)" if len(error.errors()) > 1 else ""
    return f"{source}: {key or '(top level)'}: {message}{more}"


def load(path: Path | str = PROJECT_ROOT / "params.yaml") -> Params:
    """Read and validate `params.yaml`; raise `ParamsError` with one line naming the key at fault."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level")
    try:
        loaded = Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(_one_line(exc, path, raw)) from None
    if params_trace.enabled():
        params_trace.start(loaded, Strict)
    return loaded
