"""The real pipeline through DVC in a temporary git repository, on a tiny synthetic config, offline.

One module-scoped run feeds several tests: `dvc repro` from scratch (both tasks start from the packaged
ImageNet backbone, the default model), a no-op second `dvc repro`, and
`dvc exp run -S train.minifigure.epochs=2 -S train.minifigure.ensemble=2`, which must re-run only the minifigure
task's train and what follows (the theme task has its own train section), and turns that classifier into a
two-member ensemble from training to the registry and predictions. Beside the two tasks, a third is declared in
params.yaml alone (`tasks.bricks: {}` over `data/custom/bricks/<class>/`): no code knows it, yet it is trained,
evaluated and registered like them.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.params_trace import TRACE_ENV
from tests.conftest import guarded_environment
from tests.project_repo import GIT, TINY, make_repo, merge, sh

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> tuple[dict, Path]:
    log = tmp_path_factory.mktemp("guard") / "network-attempts.log"
    return guarded_environment(log), log


# A task of the user's own, declared in params.yaml and nowhere else: its images are data/custom/bricks/<class>/
BRICKS = {
    "tasks": {"bricks": {}},
    "train": {"bricks": {"epochs": 1, "imgsz": 32, "batch": 16}},
    "pretrain": {"bricks": None},
    "predict": {"input": {"bricks": "data/yolo/bricks/test"}},
}


def brick_photos(folder: Path) -> None:
    """Three classes a model can tell apart: a red square, a green disc, a blue bar, 12 jittered pictures each."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    for label, colour, shape in (("red-2x2", (200, 30, 30), "square"), ("green-round", (30, 160, 60), "disc"),
                                 ("blue-1x4", (40, 60, 200), "bar")):  # fmt: skip
        for i in range(12):
            image = Image.new("RGB", (48, 48), tuple(int(v) for v in rng.integers(200, 255, 3)))
            x, y = rng.integers(4, 12, 2)
            box = {"square": (x, y, x + 28, y + 28), "disc": (x, y, x + 30, y + 30), "bar": (x, y + 10, x + 34, y + 20)}
            draw = ImageDraw.Draw(image)
            (draw.ellipse if shape == "disc" else draw.rectangle)(box[shape], fill=colour)
            path = folder / label / f"{i:02d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path)


@pytest.fixture(scope="module")
def repo(tmp_path_factory, env) -> Path:
    root = make_repo(tmp_path_factory.mktemp("repo"), merge(TINY, BRICKS), env[0])
    brick_photos(root / "data" / "custom" / "bricks")  # DVC versions them (the download stage's output), not git
    return root


@pytest.fixture(scope="module")
def runs(repo, env, tmp_path_factory) -> dict:
    environ, _ = env
    trace = tmp_path_factory.mktemp("params-read")  # what each stage reads of params.yaml (pipeline.params_trace)
    first = sh(["dvc", "repro"], repo, {**environ, TRACE_ENV: str(trace)})
    sh(["git", "add", "-A"], repo, environ)
    sh([*GIT, "commit", "-qm", "first run"], repo, environ)
    second = sh(["dvc", "repro"], repo, environ)
    experiment = sh(
        ["dvc", "exp", "run", "-S", "train.minifigure.epochs=2", "-S", "train.minifigure.ensemble=2"], repo, environ
    )
    shown = sh(["dvc", "exp", "show", "--json"], repo, environ)
    return {
        "first": first.stdout, "second": second.stdout, "exp": experiment.stdout, "show": shown.stdout, "trace": trace,
    }  # fmt: skip


def client(repo: Path):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow' / 'mlflow.db'}")


def test_first_run_builds_every_stage_for_both_tasks(repo, runs):
    for stage in ("download", "catalogue", "scrape", "label", "validate"):
        assert f"Running stage '{stage}'" in runs["first"]
    for task in ("minifigure", "theme"):
        for stage in ("split", "pretrain", "train", "evaluate", "register", "predict"):
            assert f"Running stage '{stage}@{task}'" in runs["first"]
    assert "Running stage 'out_of_catalogue@minifigure'" in runs["first"]  # the default: sets shown to that model
    assert "out_of_catalogue@theme" not in runs["first"]
    manifest = pd.read_csv(repo / "data" / "manifest.csv")
    assert set(manifest["source"]) == {"minifigures", "sets", "custom"}  # custom: the bricks task's pictures
    assert manifest["sha256"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert json.loads((repo / "reports" / "validate" / "results.json").read_text())["success"] is True
    label = json.loads((repo / "reports" / "label.json").read_text())
    excluded = pd.read_csv(repo / label["excluded_sets"])
    assert len(excluded) == label["sets_logged"] - label["sets_labelled"]
    assert set(excluded["reason"]) <= {"not in catalogue", "theme in no group"}
    docs = repo / "reports" / "validate" / "data_docs"
    assert 'src="static/vendor/bootstrap-table.js"' in (docs / "index.html").read_text()  # opens offline
    hosts = ("cdn.jsdelivr.net", "cdnjs.cloudflare.com", "bootstrapcdn.com", "unpkg.com", "amazonaws.com")
    assert not [page for page in docs.rglob("*.html") if any(host in page.read_text() for host in hosts)]


def test_synthetic_pretraining_is_a_dvc_output_the_theme_model_starts_from(repo, runs):
    assert json.loads((repo / "models" / "synthetic-pretrain" / "minifigure" / "pretrain.json").read_text()) == {
        "task": "minifigure", "pretrained": False,
    }  # fmt: skip
    record = json.loads((repo / "models" / "synthetic-pretrain" / "theme" / "pretrain.json").read_text())
    assert record["pretrained"] and record["train_images"] > 0
    lock = (repo / "dvc.lock").read_text()
    assert "pretrain@theme:" in lock and "path: models/synthetic-pretrain/theme" in lock
    args = (repo / "models" / "theme" / "args.yaml").read_text()
    assert f"model: {repo}/models/synthetic-pretrain/theme/best.pt" in args


def test_split_is_leakage_free_and_keeps_the_source_test_split(repo, runs):
    table = pd.read_csv(repo / "data" / "yolo" / "minifigure" / "split.csv")
    splits = table.groupby("sha256")["split"].agg(set)
    assert not any("test" in found and len(found) > 1 for found in splits)  # test photos are in no other split
    assert {"train", "val"} in set(map(frozenset, splits))  # split.refit (the default): val photos are trained on too
    assert len(table[table["split"] == "test"]) == 4 * 3  # synthetic test.csv: 4 classes x 3
    for split in ("train", "val", "calibration", "test"):
        assert len(list((repo / "data" / "yolo" / "minifigure" / split).iterdir())) == 4
    calibration = set(table.loc[table["split"] == "calibration", "sha256"])
    assert calibration and not calibration & set(table.loc[table["split"] != "calibration", "sha256"])


def test_evaluation_metrics_and_plots(repo, runs):
    for task in ("minifigure", "theme"):
        out = repo / "reports" / "evaluate" / task
        metrics = json.loads((out / "metrics.json").read_text())
        assert {"top1", "top5", "macro_f1", "baseline_top1"} <= set(metrics)
        assert 0.0 <= metrics["top1"] <= metrics["top5"] <= 1.0
        assert (out / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        per_class = pd.read_csv(out / "per_class.csv")
        assert list(per_class.columns) == ["class", "precision", "recall", "f1", "support"]
        fitted = json.loads((repo / "reports" / "calibrate" / f"{task}.json").read_text())
        assert fitted["held_out"] and fitted["images"] > 0 and fitted["in_distribution_recall"] == 0.95
        assert {"ece", "ece_uncalibrated", "ece_perfect_calibration", "nll", "nll_uncalibrated", "answered"} <= set(
            metrics
        )
        assert metrics["temperature"] == fitted["temperature"] and 0 < metrics["answered"] <= 1
        for plot in ("reliability.png", "reliability_uncalibrated.png", "risk_coverage.png"):
            assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "risk_coverage.png" in (out / "report.md").read_text()
        assert (out / "embedding_map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with np.load(out / "embeddings.npz") as kept:
            split = pd.read_csv(repo / "data" / "yolo" / task / "split.csv")
            assert sorted(kept["split"].tolist()) == sorted(split.loc[split["split"].isin(["train", "test"]), "split"])
            assert kept["vector"].shape == (len(kept["path"]), 1280)  # EfficientNet-Lite0's penultimate layer


def test_dvc_plots_show_one_titled_chart_per_task_and_measure(repo, runs, env):
    shown = json.loads(sh(["dvc", "plots", "show", "--json"], repo, env[0]).stdout)["data"]
    for task in ("minifigure", "theme"):
        epochs = len(pd.read_csv(repo / "reports" / "train" / task / "results.csv"))
        charts = {
            f"{task}: validation top-1 by epoch": shown[f"reports/train/{task}/results.csv"][0]["content"],
            f"{task}: training and validation loss by epoch": shown[f"{task} loss"][0]["content"],
            f"{task}: test confusion matrix (share of each actual class)": shown[
                f"reports/evaluate/{task}/predictions.csv"
            ][0]["content"],
        }
        for title, chart in charts.items():
            assert chart["title"]["text"] == title and chart["data"]["values"]
        assert len(charts[f"{task}: validation top-1 by epoch"]["data"]["values"]) == epochs
        assert len(charts[f"{task}: training and validation loss by epoch"]["data"]["values"]) == 2 * epochs


def test_set_pictures_are_given_to_the_minifigure_model_as_out_of_catalogue(repo, runs):
    out = repo / "reports" / "out_of_catalogue" / "minifigure"
    metrics = json.loads((out / "metrics.json").read_text())
    answers = pd.read_csv(out / "answers.csv")
    sets = sorted(p.name for p in (repo / "data" / "raw" / "sets" / "images").iterdir())
    assert sorted(answers["path"]) == sets and metrics["images"] == len(sets) and metrics["rejected"] == 0
    threshold = json.loads((repo / "reports" / "calibrate" / "minifigure.json").read_text())["unknown_threshold"]
    assert metrics["unknown_threshold"] == threshold
    unknown = answers["answer"] == "unknown"
    assert (answers.loc[unknown, "confidence"] <= threshold + 1e-6).all()  # confidences are written to 6 decimals
    assert (answers.loc[~unknown, "confidence"] >= threshold - 1e-6).all()
    assert metrics["unknown"] == pytest.approx(unknown.mean())
    assert 0.0 <= metrics["auroc"] <= 1.0
    for plot in ("confidence.png", "most_confident.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run_id = json.loads((repo / "reports" / "train" / "minifigure" / "run.json").read_text())["run_id"]
    tracked = client(repo).get_run(run_id)
    assert tracked.data.metrics["out_of_catalogue/unknown"] == pytest.approx(metrics["unknown"])
    logged = {a.path for a in client(repo).list_artifacts(run_id, "out_of_catalogue")}
    assert {"out_of_catalogue/report.md", "out_of_catalogue/confidence.png"} <= logged


def test_mlflow_runs_registry_and_champion(repo, runs):
    import mlflow

    mlflow_client = client(repo)
    for task in ("minifigure", "theme"):
        experiment = mlflow_client.get_experiment_by_name(f"lego-{task}")
        assert experiment.artifact_location.startswith(f"file://{repo}/mlflow/artifacts")
        found = mlflow_client.search_runs([experiment.experiment_id], order_by=["start_time ASC"])
        pretraining = [r for r in found if r.data.tags.get("stage") == "pretrain"]
        assert len(pretraining) == (1 if task == "theme" else 0)  # pretrain@theme's own run, in the same experiment
        top_level = [r for r in found if "mlflow.parentRunId" not in r.data.tags and r not in pretraining]
        first = top_level[0]
        assert first.data.tags["git_commit"] and first.data.tags["data_version"]
        model = "efficientnet-lite0" if task == "minifigure" else "synthetic-pretrain"
        assert first.data.params["train.model"] == model and "test/top1" in first.data.metrics
        versions = mlflow_client.search_model_versions(f"name='lego-{task}'")
        champion = mlflow_client.get_model_version_by_alias(f"lego-{task}", "champion")
        decision = json.loads((repo / "reports" / "register" / f"{task}.json").read_text())
        assert decision["champion"] == str(champion.version)
        assert (decision["data_source"], decision["synthetic"]) == ("synthetic", True)
        assert champion.tags["data_source"] == "synthetic" and champion.tags["synthetic"] == "true"
        assert first.data.tags["data_source"] == "synthetic"
        if task == "theme":  # its own train section did not change: not retrained
            assert len(top_level) == 1 and [str(v.version) for v in versions] == ["1"]
            continue
        second = top_level[1]
        assert second.data.tags.get("dvc_exp_name")
        assert second.data.params["train.epochs"] == "2" and second.data.params["train.ensemble"] == "2"
        assert "val_top1" in second.data.metrics
        members = [r for r in found if r.data.tags.get("mlflow.parentRunId") == second.info.run_id]
        assert sorted(r.data.params["seed"] for r in members) == ["42", "43"]
        for member in members:
            history = mlflow_client.get_metric_history(member.info.run_id, "metrics/accuracy_top1")
            assert [m.step for m in history] == [1, 2]
        assert sorted(int(v.version) for v in versions) == [1, 2]
        assert decision["promoted"] == (str(champion.version) == "2")
        mlflow.set_tracking_uri(mlflow_client.tracking_uri)
        try:
            assert mlflow.models.get_model_info(f"models:/lego-{task}/2").metadata["ensemble"] == 2
        finally:
            mlflow.set_tracking_uri(None)


def test_ensemble_members_are_dvc_outputs(repo, runs):
    run = json.loads((repo / "reports" / "train" / "minifigure" / "run.json").read_text())
    # split.refit (the default): validation is in-sample, so each member is its last epoch
    assert run["weights"] == ["models/minifigure/weights/last.pt", "models/minifigure/members/1/weights/last.pt"]
    assert run["onnx"] == [w.replace(".pt", ".onnx") for w in run["weights"]]
    assert all((repo / w).is_file() for w in run["weights"] + run["onnx"])
    metrics = json.loads((repo / "reports" / "train" / "minifigure" / "metrics.json").read_text())
    assert set(metrics["member_val_top1"]) == {"0", "1"}
    theme = json.loads((repo / "reports" / "train" / "theme" / "run.json").read_text())
    assert theme["weights"] == ["models/theme/weights/last.pt"]
    assert json.loads((repo / "reports" / "train" / "theme" / "metrics.json").read_text())["val_in_sample"] is True


def champion_metadata(repo: Path, task: str) -> dict:
    import mlflow

    mlflow.set_tracking_uri(client(repo).tracking_uri)
    try:
        return mlflow.models.get_model_info(f"models:/lego-{task}@champion").metadata
    finally:
        mlflow.set_tracking_uri(None)


def test_predictions_use_the_champion(repo, runs):
    for task in ("minifigure", "theme"):
        table = pd.read_csv(repo / "data" / "predictions" / f"{task}.csv")
        assert list(table.columns) == ["path", "label", "confidence", "top5"]
        test_images = pd.read_csv(repo / "data" / "yolo" / task / "split.csv").query("split == 'test'")
        assert len(table) == len(test_images)
        classes = set(pd.read_csv(repo / "data" / "yolo" / task / "split.csv")["label"])
        assert set(table["label"]) <= classes | {"unknown"}
        threshold = champion_metadata(repo, task)["calibration"]["unknown_threshold"]  # the champion's own
        unknown = table["label"] == "unknown"  # confidences are written to 6 decimals
        assert (table.loc[unknown, "confidence"] <= threshold + 1e-6).all()
        assert (table.loc[~unknown, "confidence"] >= threshold - 1e-6).all()
        for label, top in zip(table["label"], map(json.loads, table["top5"])):
            assert len(top) == min(5, len(classes)) and label in (top[0][0], "unknown")  # the top-k stays
        rejects = pd.read_csv(repo / "data" / "predictions" / f"{task}_rejects.csv")
        assert list(rejects.columns) == ["path", "reason"] and rejects.empty


def test_predict_stage_skips_unreadable_files_and_lists_them(repo, runs, env):
    """A folder of the user's: a photo and a nested copy named .jpeg are classified; an empty file and a saved web page
    are skipped, listed with their reason, and the stage still succeeds."""
    folder = repo.parent / "user-photos"
    sample = sorted((repo / "data" / "yolo" / "minifigure" / "test").rglob("*.jpg"))[0]
    (folder / "nested").mkdir(parents=True)
    (folder / "photo.jpg").write_bytes(sample.read_bytes())
    (folder / "nested" / "again.jpeg").write_bytes(sample.read_bytes())
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "page.jpg").write_bytes(b"<!doctype html><p>Not found</p>")
    params, outputs = repo / "params.yaml", repo / "data" / "predictions"
    saved = {p: p.read_bytes() for p in [params, *outputs.iterdir()]}
    try:
        config = yaml.safe_load(params.read_text())
        config["predict"]["input"]["minifigure"] = str(folder)
        params.write_text(yaml.safe_dump(config, sort_keys=False))
        done = sh(["python", "-m", "stages.predict", "minifigure"], repo, env[0])
        assert "2 of 4 files classified" in done.stdout and "2 skipped as unreadable" in done.stdout
        table = pd.read_csv(outputs / "minifigure.csv")
        assert sorted(table["path"]) == ["nested/again.jpeg", "photo.jpg"]
        rejects = pd.read_csv(outputs / "minifigure_rejects.csv")
        assert dict(zip(rejects["path"], rejects["reason"])) == {
            "empty.jpg": "empty file",
            "page.jpg": "HTML or XML text, not an image",
        }
    finally:
        for path, data in saved.items():
            path.write_bytes(data)


def test_second_repro_is_a_no_op_and_experiment_reruns_only_training_onwards(runs):
    assert "Running stage" not in runs["second"]
    assert "up to date" in runs["second"]
    ran = {line.split("'")[1] for line in runs["exp"].splitlines() if line.startswith("Running stage")}
    assert ran == {
        f"{stage}@minifigure" for stage in ("train", "calibrate", "evaluate", "out_of_catalogue", "register", "predict")
    }
    shown = json.loads(runs["show"])
    experiments = [e for row in shown for e in (row.get("experiments") or [])]
    assert experiments, "dvc exp show lists no experiment"
    metrics = experiments[0]["revs"][0]["data"]["metrics"]
    assert "reports/evaluate/minifigure/metrics.json" in metrics


def test_a_correction_from_the_page_is_trained_on_by_the_next_repro(repo, runs, env):
    """The loop from a wrong answer to a retrained, re-registered model is one `dvc repro`: a correction filed by the
    page's own code lands in train (only), retrains the minifigure model alone and registers a new version."""
    from PIL import Image

    from pipeline import feedback
    from pipeline.params import Validate

    train = sorted((repo / "data" / "yolo" / "minifigure" / "train").rglob("*.jpg"))
    right, wrong = train[0].parent.name, train[-1].parent.name
    photo = io.BytesIO()  # a new photo of a known character: a training image, mirrored (other bytes)
    Image.open(train[0]).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(photo, format="JPEG")
    saved = feedback.save(repo / "data" / "feedback", "minifigure", photo.getvalue(), right, predicted=wrong,
                          confidence=0.3, model_version="2", known=[right, wrong], limits=Validate())  # fmt: skip
    before = len(client(repo).search_model_versions("name='lego-minifigure'"))
    loop = sh(["dvc", "repro"], repo, env[0])
    ran = {line.split("'")[1] for line in loop.stdout.splitlines() if line.startswith("Running stage")}
    assert {"feedback", "label", "split@minifigure", "train@minifigure", "register@minifigure"} <= ran
    assert "train@theme" not in ran  # the theme task's data did not change
    report = json.loads((repo / "reports" / "split" / "minifigure.json").read_text())
    assert report["feedback"]["images"] == 1 and report["feedback"]["added"]["train"] == 1
    table = pd.read_csv(repo / "data" / "yolo" / "minifigure" / "split.csv")
    filed = table[table["sha256"] == saved.path.stem]
    assert filed["split"].tolist() == ["train"] and filed["label"].tolist() == [right]
    assert len(client(repo).search_model_versions("name='lego-minifigure'")) == before + 1
    queue = pd.read_csv(repo / "data" / "predictions" / "minifigure_review.csv")
    assert list(queue.columns[:3]) == ["file", "reason", "label"]


def test_cross_validation_runs_each_fold_as_an_experiment_and_tests_every_theme_image_once(repo, runs, env):
    """`python -m pipeline.crossval theme --folds 2`: two `dvc exp run --temp` experiments (the workspace is left as
    it was), every theme image in exactly one fold's test split, the pool's calibration in reports/crossval and one
    MLflow run with the folds' training runs nested under it."""
    status = ["git", "status", "--porcelain", "--untracked-files=no"]
    before = sh(status, repo, env[0]).stdout, (repo / "params.yaml").read_text()
    done = sh(["python", "-m", "pipeline.crossval", "theme", "--folds", "2"], repo, env[0])
    assert "crossval theme:" in done.stdout and "over 2 folds" in done.stdout
    assert (sh(status, repo, env[0]).stdout, (repo / "params.yaml").read_text()) == before
    out = repo / "reports" / "crossval" / "theme"
    metrics = json.loads((out / "metrics.json").read_text())
    pooled = pd.read_csv(out / "predictions.csv")
    images = pd.read_csv(repo / "data" / "yolo" / "theme" / "split.csv")["sha256"].str[:8]
    tested = pooled["path"].str.extract(r"-([0-9a-f]{8})\.\w+$")[0]
    assert sorted(tested) == sorted(images.unique())  # each image once, over both folds
    assert metrics["folds"] == 2 and metrics["images"] == len(pooled) and set(pooled["fold"]) == {0, 1}
    assert 0 <= metrics["ece"] <= 1 and 0 <= metrics["ece_uncalibrated"] <= 1
    assert (out / "reliability.png").is_file() and (out / "report.md").is_file()
    names = sh(["dvc", "exp", "list", "--name-only"], repo, env[0]).stdout.split()
    assert len([n for n in names if n.startswith("crossval-theme-") and n[-6:] in ("-fold0", "-fold1")]) == 2
    pooled_runs = client(repo).search_runs(
        [client(repo).get_experiment_by_name("lego-theme").experiment_id], "tags.crossval = 'pooled'"
    )
    assert len(pooled_runs) == 1 and pooled_runs[0].data.metrics["crossval/ece"] == pytest.approx(metrics["ece"])
    fold_runs = pooled_runs[0].data.tags["crossval.fold_runs"].split(",")
    assert sorted(fold_runs) == sorted(pooled["run_id"].unique()) and len(fold_runs) == 2
    for fold_run in fold_runs:
        assert client(repo).get_run(fold_run).data.tags["mlflow.parentRunId"] == pooled_runs[0].info.run_id


def test_no_network_contact(runs, env):
    _, log = env
    assert not log.exists() or log.read_text() == "", log.read_text()[:3000]


def _related(read: str, listed: str) -> bool:
    """`listed` (a dvc.yaml params key) covers `read`, or `read` is a whole section that holds `listed`."""
    return read == listed or read.startswith(f"{listed}.") or listed.startswith(f"{read}.")


def test_every_param_a_stage_reads_is_in_its_dvc_yaml_params(repo, runs):
    """A key a stage reads but does not list would not re-run it when changed: `dvc repro` would serve stale results."""
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    traces = sorted(runs["trace"].glob("*.json"))
    assert {t.stem.split("@")[0] for t in traces} >= {"download", "label", "validate", "split", "train", "evaluate"}
    for trace in traces:
        name, _, key = trace.stem.partition("@")
        listed = [p.replace("${key}", key) for p in stages[name].get("do", stages[name]).get("params", [])]
        # a stage per task (foreach keyed by task name) checks its name is declared: the names are what DVC iterates
        reads = [r for r in json.loads(trace.read_text()) if not (key and r == "tasks")]
        missed = [r for r in reads if not any(_related(r, p) for p in listed)]
        assert not missed, f"dvc.yaml stage {name}: params miss {missed}, which {trace.stem} reads"


def test_a_task_declared_in_params_yaml_alone_is_trained_evaluated_and_registered(repo, runs):
    for stage in ("split", "pretrain", "train", "calibrate", "evaluate", "register", "predict"):
        assert f"Running stage '{stage}@bricks'" in runs["first"]
    manifest = pd.read_csv(repo / "data" / "manifest.csv")
    bricks = manifest[manifest["bricks"].notna()]  # its label column: the task's name
    assert len(bricks) == 36 and set(bricks["source"]) == {"custom"} and set(bricks["bricks"]) == {
        "red-2x2", "green-round", "blue-1x4",
    }  # fmt: skip
    split = json.loads((repo / "reports" / "split" / "bricks.json").read_text())
    assert split["classes"] == 3 and (split["data_source"], split["synthetic"]) == ("custom:custom", False)
    metrics = json.loads((repo / "reports" / "evaluate" / "bricks" / "metrics.json").read_text())
    assert metrics["test_images"] == split["images"]["test"] and 0.0 <= metrics["top1"] <= 1.0
    assert {k for k in metrics if k.endswith("_top1")} == {"baseline_top1", "answered_top1"}  # it declares no group
    decision = json.loads((repo / "reports" / "register" / "bricks.json").read_text())
    champion = client(repo).get_model_version_by_alias("lego-bricks", "champion")
    assert decision["champion"] == str(champion.version) and champion.tags["data_source"] == "custom:custom"
    assert len(pd.read_csv(repo / "data" / "predictions" / "bricks.csv")) == split["images"]["test"]
    assert "Running stage 'train@bricks'" not in runs["exp"]  # its own train section did not change


def test_out_of_fold_calibration_trains_on_every_picture_and_answers_each_once(repo, runs, env):
    """`-S calibrate.folds=2 -S split.calibration_fraction=0`: no calibration split, and calibrate@<task> fits on
    two fold models' answers to the pictures they did not train on: each training picture once. (Last in this
    module: it leaves the workspace at this experiment.)"""
    done = sh(
        ["dvc", "exp", "run", "-S", "calibrate.folds=2", "-S", "split.calibration_fraction=0", "calibrate@minifigure"],
        repo, env[0],
    )  # fmt: skip
    table = pd.read_csv(repo / "data" / "yolo" / "minifigure" / "split.csv")
    assert "calibration" not in set(table["split"])
    pictures = table[table["split"] == "train"]["sha256"].nunique()
    fitted = json.loads((repo / "reports" / "calibrate" / "minifigure.json").read_text())
    assert fitted["images"] == pictures and fitted["held_out"] is True
    assert f"out-of-fold predictions of {pictures} training images (2 folds)" in done.stdout
    assert not [p.name for p in (repo / "data" / "yolo").iterdir() if p.name.startswith(".")]  # fold folders gone
    run_id = json.loads((repo / "reports" / "train" / "minifigure" / "run.json").read_text())["run_id"]
    assert 0 <= client(repo).get_run(run_id).data.metrics["calibration/out_of_fold_top1"] <= 1
