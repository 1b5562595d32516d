"""What a user looks for beside the code agrees with pyproject.toml: the LICENSE file is the MIT
licence the package declares, CITATION.cff names the package's version and licence, and the
changelog has a section for that version."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_license_file_is_the_declared_mit_licence():
    assert PROJECT["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) ")
    assert "Permission is hereby granted, free of charge" in text


def test_citation_names_the_package_version_and_licence():
    """The top-level keys of CITATION.cff (YAML: ``key: value`` at the start of a line)."""
    text = (ROOT / "CITATION.cff").read_text()
    keys = dict(re.findall(r"^([a-z-]+):[ ]*(.*)$", text, re.MULTILINE))
    assert keys["cff-version"] == "1.2.0"
    assert keys["version"] == PROJECT["version"]
    assert keys["license"] == "MIT"
    assert {"message", "title", "authors", "repository-code"} <= set(keys)


def test_changelog_has_the_package_version():
    headings = [
        line for line in (ROOT / "CHANGELOG.md").read_text().splitlines() if line.startswith("## ")
    ]
    assert f"## {PROJECT['version']}" in headings, headings
