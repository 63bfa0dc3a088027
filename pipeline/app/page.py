"""The Streamlit script of the upload page (started by `python -m pipeline.app`, i.e. `make app`).

Streamlit runs it once per interaction and per visitor, each in its own thread; what is expensive (the champion)
is loaded once per registered version (`st.cache_resource`) and shared by every visitor.
"""

from __future__ import annotations

import streamlit as st

from pipeline import feedback, params, paths, registry, tracking
from pipeline.app import champion as champions
from pipeline.calibration import UNKNOWN
from pipeline.io import DataError

NEW_CLASS = "(a class not listed: type its name)"
SCORE_NAMES = {"top1": "top-1", "top5": "top-5", "macro_f1": "macro-F1", "answered": "answered"}
QUEUE_PAGE = 12  # review-queue images per page


@st.cache_resource(show_spinner="Loading the champion…", max_entries=8)
def load_champion(task: str, version: str) -> champions.Champion:
    model = champions.load(task, version)
    print(f"app: loaded {registry.model_name(task)} v{version} ({len(model.names)} classes)", flush=True)
    return model


@st.cache_data(max_entries=256, show_spinner="Classifying…")
def answers(task: str, version: str, items: list[tuple[str, bytes]], similar: int, max_bytes: int, _model):
    """The champion's answers for these uploads: computed once per version and content, not again on every
    rerun (each click re-runs the script: a correction would otherwise classify every photo on the page again)."""
    return champions.answer(_model, items, similar, max_bytes)


@st.cache_data(max_entries=4)
def dataset_images(task: str, stamp: float) -> dict[str, tuple[str, str]]:
    return champions.dataset_images(task)


def in_dataset(task: str, sha256: str) -> tuple[str, str] | None:
    split_csv = paths.YOLO / task / "split.csv"
    return dataset_images(task, split_csv.stat().st_mtime if split_csv.is_file() else 0.0).get(sha256)


@st.cache_resource
def settings() -> params.Params:
    tracking.configure()
    return params.load()


def header(model: champions.Champion, config: params.Params) -> None:
    scores = " · ".join(
        f"ECE {model.metrics[name]:.3f}" if name == "ece" else f"{SCORE_NAMES[name]} {model.metrics[name]:.1%}"
        for name in champions.METRICS
        if name in model.metrics
    )
    st.markdown(
        f"Answering: **lego-{model.task} v{model.version}** (champion) — test {scores or 'scores not logged'} · "
        f"[MLflow run {model.run_id[:8]}]({model.run_url(tracking.ui_url(config.app.mlflow_ui))})"
    )
    st.caption(
        f"{model.data_source or 'data source not recorded'} · {len(model.names)} classes · "
        f'"{UNKNOWN}" below {model.threshold:.0%} calibrated confidence'
    )


def verdict(answer: champions.Answer, model: champions.Champion) -> None:
    if answer.label == UNKNOWN:
        st.warning(
            f"Answer: **{UNKNOWN}** — the model is only {answer.confidence:.1%} sure (below {model.threshold:.0%}); "
            f"best guess {answer.best_guess}"
        )
    else:
        st.success(f"Answer: **{answer.label}** — {answer.confidence:.1%}")
    for label, probability in answer.top:
        st.progress(min(max(probability, 0.0), 1.0), text=f"{label} — {probability:.1%}")


def similar(answer: champions.Answer) -> None:
    if not answer.similar:
        return
    st.caption("Most similar training images")
    for column, (path, label) in zip(st.columns(len(answer.similar)), answer.similar):
        with column:
            if path.is_file():
                st.image(champions.thumbnail(path, 160), caption=label, width="stretch")
            else:
                st.caption(label)


def correction(answer: champions.Answer, model: champions.Champion, config: params.Params, key: str) -> None:
    """Confirm the answer or give the right class; saved under `sources.feedback.path` for the next `dvc repro`."""
    saved_key = f"saved-{key}"
    if saved_key in st.session_state:
        st.info(st.session_state[saved_key])
    with st.form(key=f"form-{key}", border=True):
        options = [*model.names, NEW_CLASS]
        guess = answer.best_guess if answer.best_guess in model.names else model.names[0]
        chosen = st.selectbox("The right class", options, index=options.index(guess), key=f"class-{key}")
        typed = st.text_input("New class name", key=f"typed-{key}", max_chars=feedback.MAX_CLASS_NAME + 1)
        confirm, fix = st.columns(2)
        confirmed = confirm.form_submit_button(f"✓ Right: {answer.best_guess}")
        corrected = fix.form_submit_button("Save the right class")
    if not (confirmed or corrected):
        return
    label = answer.best_guess if confirmed else typed if chosen == NEW_CLASS else chosen
    try:
        saved = feedback.save(
            config.sources.feedback.resolved_path, model.task, answer.data, label or "",
            predicted=str(answer.best_guess), confidence=answer.confidence, model_version=model.version,
            known=model.names, limits=config.validate_,
        )  # fmt: skip
    except feedback.FeedbackError as exc:
        st.error(f"Not saved: {exc}")
        return
    moved = f" (moved from {saved.moved_from})" if saved.moved_from else ""
    message = f"Saved: {saved.verdict} as **{saved.label}**{moved} (`{saved.path.name[:12]}…`)"
    known = in_dataset(model.task, saved.path.stem)
    if known:
        message += (
            f". This very image is already in the data set ({known[0]} split, labelled {known[1]}): it is not trained"
            " on again and the data set's label stands"
        )
    else:
        message += "; the next `dvc repro` trains on it"
    st.session_state[saved_key] = message
    st.info(message)


def card(
    answer: champions.Answer, model: champions.Champion, config: params.Params, slot: str, note: str | None = None
) -> None:
    """One upload's answer and its correction form; `slot` keeps the form's widgets apart from every other card's
    (the same photo dropped twice is two cards)."""
    with st.container(border=True):
        st.markdown(f"**{answer.name}**" + (f" · {note}" if note else ""))
        if answer.error:
            st.error(f"{answer.name}: {answer.error}")
            return
        picture, result, fix = st.columns([1, 2, 2])
        with picture:
            st.image(champions.thumbnail(answer.data), width="stretch")
        with result:
            verdict(answer, model)
            similar(answer)
        with fix:
            correction(answer, model, config, f"{model.task}-{model.version}-{slot}-{answer.sha256[:16]}")


def uploads_view(model: champions.Champion, config: params.Params) -> None:
    limit = config.app.max_upload_mb
    files = st.file_uploader(
        f"Drop one or many photos (up to {limit} MB each)", accept_multiple_files=True,
        max_upload_size=limit, key=f"upload-{model.task}",
    )  # fmt: skip
    items = [(f.name, f.getvalue()) for f in files or []]
    if st.toggle("Use the camera", key=f"camera-on-{model.task}"):
        shot = st.camera_input("Take a photo", key=f"camera-{model.task}")
        if shot is not None:
            items.append(("camera photo", shot.getvalue()))
    if not items:
        st.caption("The answers appear here, with the right class to pick if the model is wrong.")
        return
    found = answers(model.task, model.version, items, config.app.similar, limit * 1_000_000, model)
    for index, answer in enumerate(found):
        card(answer, model, config, f"upload{index}")


def queue_view(model: champions.Champion, config: params.Params) -> None:
    try:
        queue = champions.review_queue(model.task)
    except DataError as exc:
        st.error(str(exc))
        return
    if not queue:
        st.info(f"No review queue for {model.task} yet: `dvc repro` runs predict@{model.task}, which writes it.")
        return
    unknown = sum(row["reason"] == UNKNOWN for row in queue)
    st.markdown(
        f'**{len(queue)} images to review** ({unknown} "{UNKNOWN}", then the least confident), least confident '
        "first: a correction here teaches the model most."
    )
    st.caption(
        f"predict@{model.task} classified `{config.predict.input.get(model.task)}`. A correction of an image that is "
        "already in the data set (the default folder is the test split) is saved but never trained on: point "
        f"`predict.input.{model.task}` at new photos to collect corrections that teach."
    )
    pages = max(1, -(-len(queue) // QUEUE_PAGE))
    page = st.number_input("Page", 1, pages, 1, key=f"queue-page-{model.task}") if pages > 1 else 1
    rows = queue[(page - 1) * QUEUE_PAGE : page * QUEUE_PAGE]
    present = [row for row in rows if row["path"].is_file()]
    for row in rows:
        if not row["path"].is_file():
            st.warning(f"{row['file']}: no longer there")
    items = [(str(row["file"]), row["path"].read_bytes()) for row in present]
    notes = [f"queued: {row['reason']} ({float(row['confidence']):.1%})" for row in present]
    found = answers(model.task, model.version, items, config.app.similar, config.app.max_upload_mb * 1_000_000, model)
    for index, (answer, note) in enumerate(zip(found, notes)):
        card(answer, model, config, f"queue{(page - 1) * QUEUE_PAGE + index}", note)


def main() -> None:
    st.set_page_config(page_title="LEGO classifier", layout="wide")
    config = settings()
    versions = champions.champion_versions(list(config.tasks))
    st.title("LEGO classifier")
    if not versions:
        st.error("No champion is registered yet: run `make run` (or `dvc repro`) first.")
        return
    task = st.sidebar.radio("Task", list(versions), format_func=lambda t: f"{t} (v{versions[t]})")
    view = st.sidebar.radio("View", ["Classify photos", "Review queue"])
    model = load_champion(task, versions[task])
    header(model, config)
    if view == "Review queue":
        queue_view(model, config)
    else:
        uploads_view(model, config)


main()
