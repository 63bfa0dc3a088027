"""The champion alias moves only to a better version, compared on the same test split, and a model trained on
synthetic data never replaces one trained on real photos (real SQLite store)."""

from __future__ import annotations

import pandas as pd
import pytest

import mlflow
from pipeline import promotion, registry


class Constant(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input: pd.DataFrame, params=None):
        return pd.DataFrame({"label": ["a"] * len(model_input)})


@pytest.fixture
def client(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("t", artifact_location=(tmp_path / "artifacts").as_uri())
    mlflow.set_experiment(experiment_id=experiment)
    yield mlflow.MlflowClient(uri)
    mlflow.set_tracking_uri(None)


def register(classes):
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(name="model", python_model=Constant(), metadata={"classes": classes},
                                       pip_requirements=[], registered_model_name="lego-minifigure")  # fmt: skip
    return str(info.registered_model_version), run.info.run_id


def decide(client, classes, top1, test_version="v1", rescored=None, **data):
    version, run_id = register(classes)
    calls = []

    def rescore(uri):
        calls.append(uri)
        return rescored

    decision = promotion.decide(client, "minifigure", version, run_id, top1, test_version, classes, rescore, **data)
    return decision, calls


SYNTHETIC = {"data_source": "synthetic", "synthetic": True}
REAL = {"data_source": "local:lego-minifigures", "synthetic": False}


def champion(client):
    return str(client.get_model_version_by_alias("lego-minifigure", "champion").version)


def test_first_version_is_champion_then_only_better_ones(client):
    first, _ = decide(client, ["a", "b"], 0.5)
    assert first.promoted and first.reason == "first registered version" and champion(client) == "1"
    worse, _ = decide(client, ["a", "b"], 0.4)
    assert not worse.promoted and champion(client) == "1" and worse.champion_before_top1 == 0.5
    tie, _ = decide(client, ["a", "b"], 0.5)
    assert not tie.promoted and champion(client) == "1"
    better, _ = decide(client, ["a", "b"], 0.6)
    assert better.promoted and champion(client) == "4"


def test_champion_from_another_test_split_is_rescored(client):
    decide(client, ["a", "b"], 0.9, test_version="old")
    decision, calls = decide(client, ["a", "b"], 0.7, test_version="new", rescored=0.65)
    assert calls == ["models:/lego-minifigure/1"]
    assert decision.promoted and decision.champion_before_top1 == 0.65 and champion(client) == "2"


def test_champion_over_other_classes_is_replaced(client):
    decide(client, ["a", "b"], 0.9)
    decision, calls = decide(client, ["x", "y", "z"], 0.3)
    assert decision.promoted and not calls and "other classes" in decision.reason


def test_synthetic_data_never_replaces_a_champion_trained_on_real_photos(client):
    real, _ = decide(client, ["a", "b"], 0.5, **REAL)
    assert real.promoted and champion(client) == "1"
    # better on the same split, or over other classes (the synthetic default data): the real champion stays
    for classes, top1 in ((["a", "b"], 0.99), (["x", "y", "z"], 0.99)):
        synthetic, calls = decide(client, classes, top1, **SYNTHETIC)
        assert not synthetic.promoted and not calls and champion(client) == "1"
        assert "never replaces champion v1" in synthetic.reason and "local:lego-minifigures" in synthetic.reason
        assert (synthetic.data_source, synthetic.synthetic) == ("synthetic", True)
        assert (synthetic.champion_before_data_source, synthetic.champion_before_synthetic) == (
            REAL["data_source"],
            False,
        )
    # between real models the scores decide, as before
    worse, _ = decide(client, ["a", "b"], 0.4, **REAL)
    assert not worse.promoted and worse.champion_before_top1 == 0.5 and champion(client) == "1"
    better, _ = decide(client, ["a", "b"], 0.6, **REAL)
    assert better.promoted and champion(client) == "5"


def test_real_photos_replace_a_synthetic_champion(client):
    decide(client, ["a", "b"], 0.95, **SYNTHETIC)
    worse_but_real, calls = decide(client, ["a", "b"], 0.3, **REAL)  # a lower score on other data still wins
    assert worse_but_real.promoted and not calls and champion(client) == "2"
    assert worse_but_real.reason.startswith("trained on real photos (local:lego-minifigures): replaces champion v1")
    assert worse_but_real.to_json()["champion_before_data_source"] == "synthetic"
    # between synthetic models the scores decide
    decide(client, ["a", "b"], 0.5, **SYNTHETIC)
    assert champion(client) == "2"


def test_versions_show_their_data_source(client):
    decide(client, ["a", "b"], 0.5, **REAL)
    decide(client, ["a", "b"], 0.7, **SYNTHETIC)
    real, synthetic = (client.get_model_version("lego-minifigure", v) for v in ("1", "2"))
    assert real.tags["data_source"] == "local:lego-minifigures" and real.tags["synthetic"] == "false"
    assert synthetic.tags["data_source"] == "synthetic" and synthetic.tags["synthetic"] == "true"
    assert real.description == "trained on real photos: local:lego-minifigures"
    assert synthetic.description == "trained on synthetic data: synthetic"


def test_a_champion_without_data_source_is_of_unknown_kind(client):
    """Versions registered before data sources were recorded: the scores alone decide, as they did then."""
    old, _ = decide(client, ["a", "b"], 0.5)
    assert old.data_source is None and "data_source" not in client.get_model_version("lego-minifigure", "1").tags
    synthetic_worse, _ = decide(client, ["a", "b"], 0.4, **SYNTHETIC)
    assert not synthetic_worse.promoted and synthetic_worse.champion_before_synthetic is None
    other_classes, _ = decide(client, ["x", "y"], 0.1, **SYNTHETIC)
    assert other_classes.promoted and "other classes" in other_classes.reason


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two-class images in train/val/test folders and two 1-epoch models of different seeds."""
    from PIL import Image

    from pipeline.params import Train
    from pipeline.training import train

    root = tmp_path_factory.mktemp("registry")
    for split, count in (("train", 6), ("val", 2), ("test", 2)):
        for c, colour in enumerate([(220, 30, 30), (30, 30, 220)]):
            for i in range(count):
                path = root / "data" / split / f"class{c}" / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (40, 40), tuple(min(255, v + 9 * i) for v in colour)).save(path)
    settings = Train(model="yolov8n-cls.yaml", overrides={}, epochs=1, imgsz=32, batch=4, workers=0)
    results = [train(settings, root / "data", root / f"run{seed}", seed=seed) for seed in (0, 1)]
    return root / "data", [r.weights for r in results], [r.onnx for r in results]


def test_rescorer_scores_a_registered_champion_on_this_test_split(client, trained):
    """A real Ultralytics model logged as the pyfunc, re-scored on files: top-1 matches direct inference."""
    from pipeline.evaluation import labelled_images, top_k_accuracy
    from pipeline.torch_model import Ensemble

    data, (weights, _), (onnx, _) = trained
    test = labelled_images(data / "test")
    with mlflow.start_run():
        version, classes = registry.log_model([weights], [onnx], "minifigure", test["path"].iloc[0].read_bytes())
    direct = Ensemble([weights])
    probs = direct.probabilities(list(test["path"]), 4)
    expected = top_k_accuracy(test["label"].map(classes.index).to_numpy(), probs, 1)
    uri = f"models:/lego-minifigure/{version}"
    assert len(test) > 3 and promotion.rescorer(data / "test", 4)(uri) == expected
    assert promotion.rescorer(data / "test", 4, chunk_files=3)(uri) == pytest.approx(expected)  # chunk by chunk
    assert classes == direct.names == ["class0", "class1"]
    served = mlflow.pyfunc.load_model(f"models:/lego-minifigure/{version}")
    out = served.predict(pd.DataFrame({"image": [p.read_bytes() for p in test["path"]]}), params={"top_k": 2})
    assert list(out["label"]) == [classes[i] for i in probs.argmax(axis=1)]  # bytes in, same answers as files
    assert all(len(labels) == 2 and labels[0] == label for labels, label in zip(out["top_k_labels"], out["label"]))
    with pytest.raises(Exception, match="decodable image"):
        served.predict(pd.DataFrame({"image": [b"not an image"]}))


def test_registered_ensemble_answers_with_its_members_mean(client, trained):
    import numpy as np

    from pipeline.evaluation import labelled_images
    from pipeline.torch_model import Ensemble

    data, weights, onnx = trained
    test = labelled_images(data / "test")
    with mlflow.start_run():
        version, _ = registry.log_model(weights, onnx, "minifigure", test["path"].iloc[0].read_bytes(), REAL)
    served = mlflow.pyfunc.load_model(f"models:/lego-minifigure/{version}")
    assert served.metadata.metadata["ensemble"] == 2
    assert served.metadata.metadata["data_source"] == "local:lego-minifigures"
    assert served.metadata.metadata["synthetic"] is False
    assert len(served.unwrap_python_model().model.sessions) == 2  # onnxruntime runs both members
    out = served.predict(pd.DataFrame({"image": [p.read_bytes() for p in test["path"]]}))
    members = [Ensemble([w]).probabilities(list(test["path"]), 4) for w in weights]
    assert not np.allclose(members[0], members[1])  # two seeds, two different models
    np.testing.assert_allclose(np.array(out["probabilities"].tolist()), (members[0] + members[1]) / 2, atol=1e-5)


def test_ensemble_refuses_members_over_other_classes(trained, tmp_path):
    from PIL import Image

    from pipeline.params import Train
    from pipeline.torch_model import Ensemble
    from pipeline.training import train

    data, weights, _ = trained
    for split in ("train", "val"):
        for c in ("a", "b", "c"):
            path = tmp_path / "other" / split / c / "0.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (40, 40), (10 * len(c), 100, 50)).save(path)
    small = Train(model="yolov8n-cls.yaml", overrides={}, epochs=1, imgsz=32, batch=4, workers=0)
    other = train(small, tmp_path / "other", tmp_path / "run", seed=0).best
    with pytest.raises(ValueError, match=rf"{other}: its classes differ"):
        Ensemble([weights[0], other])


def test_the_registered_model_answers_with_its_calibration(client, trained, tmp_path):
    """The temperature and threshold of calibrate@<task> travel with the version and shape every answer."""
    import json

    import numpy as np

    from pipeline.calibration import UNKNOWN, Calibration, scale
    from pipeline.evaluation import labelled_images
    from pipeline.onnx_model import OnnxClassifier

    data, (weights, _), (onnx, _) = trained
    test = labelled_images(data / "test")
    raw = OnnxClassifier([onnx]).probabilities(list(test["path"]), 4)
    threshold = float(np.median(scale(raw, 2.0).max(axis=1)))
    fitted = tmp_path / "calibration.json"
    fitted.write_text(json.dumps(Calibration(temperature=2.0, unknown_threshold=threshold).to_json()))
    with mlflow.start_run():
        version, _ = registry.log_model(
            [weights], [onnx], "minifigure", test["path"].iloc[0].read_bytes(), REAL, fitted
        )
    served = mlflow.pyfunc.load_model(f"models:/lego-minifigure/{version}")
    assert served.metadata.metadata["calibration"]["temperature"] == 2.0
    out = served.predict(pd.DataFrame({"image": [p.read_bytes() for p in test["path"]]}))
    probs = np.array(out["probabilities"].tolist())
    np.testing.assert_allclose(probs, scale(raw, 2.0), atol=1e-6)
    unsure = probs.max(axis=1) < threshold
    assert unsure.any() and (out.loc[unsure, "label"] == UNKNOWN).all()
    assert (out.loc[~unsure, "label"] == [labels[0] for labels in out.loc[~unsure, "top_k_labels"]]).all()


def race(client, scores: dict[str, float]) -> list[promotion.Decision]:
    """Registered versions decided at the same moment, one thread each, released together by a barrier."""
    import threading

    barrier, decisions = threading.Barrier(len(scores)), []

    def one(version: str, top1: float) -> None:
        run_id = client.get_model_version("lego-minifigure", version).run_id
        barrier.wait()
        decisions.append(promotion.decide(client, "minifigure", version, run_id, top1, "v1", ["a", "b"], None))

    threads = [threading.Thread(target=one, args=item) for item in scores.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return decisions


def test_registrations_racing_for_champion_are_decided_one_after_the_other(client):
    decide(client, ["a", "b"], 0.5)
    versions = [register(["a", "b"])[0] for _ in range(2)]
    decisions = race(client, {versions[0]: 0.6, versions[1]: 0.9})
    assert len(decisions) == 2 and champion(client) == versions[1]  # the best one, whichever decided last
    first, second = sorted(decisions, key=lambda d: d.champion_before != "1")  # the first saw v1 as champion
    assert first.champion_before == "1" and first.promoted
    assert second.champion_before == first.version  # the second compared against the first, not against v1 too
    assert sorted(int(v.version) for v in client.search_model_versions("name='lego-minifigure'")) == [1, 2, 3]
    assert not client.search_registered_models(filter_string="name LIKE '%champion-lock%'")  # released


def test_a_lock_left_by_a_dead_registration_is_broken_when_stale(client):
    decide(client, ["a", "b"], 0.5)
    client.create_registered_model("lego-minifigure.champion-lock", tags={"holder": "gone:1", "since": "0"})
    decision, _ = decide(client, ["a", "b"], 0.7)
    assert decision.promoted and champion(client) == "2"
    assert not client.search_registered_models(filter_string="name LIKE '%champion-lock%'")


def test_a_fresh_lock_of_a_dead_process_on_this_machine_is_broken_at_once(client):
    import socket
    import subprocess
    import time

    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid is now free: the lock's holder has died
    holder = f"{socket.gethostname()}:{gone.pid}:0"
    decide(client, ["a", "b"], 0.5)
    client.create_registered_model("lego-minifigure.champion-lock", tags={"holder": holder, "since": f"{time.time()}"})
    version, run_id = register(["a", "b"])
    decision = promotion.decide(client, "minifigure", version, run_id, 0.7, "v1", ["a", "b"], None)
    assert decision.promoted and champion(client) == version


def test_a_live_lock_is_waited_for_and_named_when_it_outlasts_the_timeout(client):
    import os
    import socket
    import time

    decide(client, ["a", "b"], 0.5)
    holder = f"{socket.gethostname()}:{os.getpid()}:0"  # this very process: alive
    client.create_registered_model("lego-minifigure.champion-lock", tags={"holder": holder, "since": f"{time.time()}"})
    held = rf"lego-minifigure.champion-lock in .*: held by {holder} for"
    with pytest.raises(promotion.DataError, match=held), promotion.champion_lock(client, "minifigure", timeout=1):
        pass


def test_a_lock_seen_without_its_tags_is_waited_for_not_broken(client):
    """The store reads a registered model and its tags apart: a lock read while its holder deletes it shows no
    tags. Taking that for a stale lock deleted a lock that was already gone (a race seen in `make test`)."""
    import os
    import threading
    import time

    lock = "lego-minifigure.champion-lock"
    client.create_registered_model(lock)  # no holder, no time: as if caught half-deleted
    seen: list[dict] = []

    def holder_releases() -> None:
        time.sleep(1)
        seen.append(client.get_registered_model(lock).tags)  # still the tagless lock: nobody broke it
        client.delete_registered_model(lock)

    releasing = threading.Thread(target=holder_releases)
    releasing.start()
    with promotion.champion_lock(client, "minifigure", timeout=30):
        acquired = client.get_registered_model(lock).tags
    releasing.join()
    assert seen == [{}] and acquired["holder"].split(":")[1] == str(os.getpid())  # then it was ours
    client.create_registered_model(lock)
    unknown = "held by an unknown process [(]delete"
    with pytest.raises(promotion.DataError, match=unknown), promotion.champion_lock(client, "minifigure", timeout=0.5):
        pass


def test_registering_the_same_run_and_inputs_again_resumes_its_version(client, tmp_path):
    """A registration killed after its version was created (a lost server, a killed stage) runs again: it finds
    that version by its key and decides on it; no second version of the same run and inputs."""
    files = [tmp_path / "best.onnx"]
    files[0].write_bytes(b"onnx")
    key = registry.registration_key("run-1", files, b"example", {"data_source": "x"})
    assert key == registry.registration_key("run-1", files, b"example", {"data_source": "x"})
    files[0].write_bytes(b"other onnx")
    assert key != registry.registration_key("run-1", files, b"example", {"data_source": "x"})
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(
            name="model", python_model=Constant(), metadata={"classes": ["a", "b"]}, pip_requirements=[]
        )
    created = mlflow.register_model(info.model_uri, "lego-minifigure", tags={registry.KEY_TAG: key})
    assert registry.registered_version(client, "minifigure", run.info.run_id, "another key") is None
    found = registry.registered_version(client, "minifigure", run.info.run_id, key)
    assert found == (str(created.version), ["a", "b"])
    first = promotion.decide(client, "minifigure", found[0], run.info.run_id, 0.5, "v1", ["a", "b"], None)
    again = promotion.decide(client, "minifigure", found[0], run.info.run_id, 0.5, "v1", ["a", "b"], None)
    assert first.promoted and again.promoted and again.reason == "already champion (a resumed registration)"
    assert [v.version for v in client.search_model_versions("name='lego-minifigure'")] == [created.version]
