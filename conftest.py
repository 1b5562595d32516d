"""nbval compares what a reader sees; these outputs vary from run to run and are not compared:
HTML reprs (progress bars, widgets) and stderr (progress bars)."""

NOT_COMPARED = ("text/html", "stderr")


def pytest_collection_modifyitems(items):
    for notebook in {item.parent for item in items if hasattr(item.parent, "skip_compare")}:
        notebook.skip_compare += NOT_COMPARED
