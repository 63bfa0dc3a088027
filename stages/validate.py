"""DVC stage `validate`: Great Expectations suite over the manifest plus image checks; fails on bad data."""

from pipeline import cli, io, params, paths
from pipeline.data_docs import make_offline
from pipeline.validation import check_manifest

RESULT = paths.REPORTS / "validate" / "results.json"
DOCS = paths.REPORTS / "validate" / "data_docs"


def main() -> None:
    config = params.load()
    report = check_manifest(paths.MANIFEST, paths.PROJECT_ROOT, config.validate_, DOCS, config.declared_tasks())
    io.write_json(RESULT, report.to_json())
    print(report.summary())
    online = make_offline(DOCS)
    if online:
        print(f"validate: the data docs still load {len(online)} address(es) from the network: {sorted(online)}")
    print(f"validate: data docs at {DOCS / 'index.html'}")
    if not report.success:
        raise io.DataError(
            f"{paths.MANIFEST}: validation failed ({len(report.failures)} expectation(s)); see above and {RESULT}"
        )


if __name__ == "__main__":
    cli.run(main)
