"""DVC stage `feedback`: people's corrections from the upload page (`sources.feedback.path`) → `data/raw/feedback/`."""

from pipeline import cli, feedback, io, params, paths


def main() -> None:
    config = params.load()
    source = config.sources.feedback
    folder = source.resolved_path
    if source.enabled and not folder.is_dir():
        raise io.DataError(f"params.yaml: sources.feedback.path: {folder} is not a folder")
    counts = feedback.collect(folder if source.enabled else None, paths.RAW_FEEDBACK, list(config.tasks))
    summary = ", ".join(f"{task} {sum(c.values())} images in {len(c)} classes" for task, c in counts.items())
    state = f"from {folder}" if source.enabled else "switched off (sources.feedback.enabled: false)"
    print(f"feedback: {summary} → {paths.RAW_FEEDBACK} ({state})")


if __name__ == "__main__":
    cli.run(main)
