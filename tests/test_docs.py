"""The user guide cannot drift: its references are what the generator makes from the code, every
pipeline key and every command is in them, the error lines it quotes are the code's, and its
links lead somewhere."""

from __future__ import annotations

import dataclasses
import re

import pytest
import typer.main

from backends.bench.stage import Gates
from backends.executor.config import ExecutorConfig
from backends.pipeline import STAGES
from mllib_tui import docgen
from mllib_tui.cli import app
from tests.conftest import ROOT

DOCS = ROOT / "docs"


@pytest.mark.parametrize(
    ("name", "make"), [("pipeline.md", docgen.pipeline_reference), ("cli.md", docgen.cli_reference)]
)
def test_the_references_are_generated_from_the_code(name: str, make) -> None:
    assert (DOCS / "reference" / name).read_text() == make(), (
        f"docs/reference/{name} is stale: run `.venv/bin/python -m mllib_tui.docgen`"
    )


def test_every_pipeline_key_is_in_the_reference() -> None:
    text = (DOCS / "reference" / "pipeline.md").read_text()
    configs = [(n, c) for n, s in STAGES.items() for c in (s.choices or {n: s.config}).values()]
    for section, config in [*configs, ("gates", Gates), ("executor", ExecutorConfig)]:
        for spec in dataclasses.fields(config):
            assert f"`{section}.{spec.name}`" in text, f"{section}.{spec.name}"
        assert f"`[{section}]`" in text
    assert "`stages`" in text and "`[sweep]`" in text


def test_every_command_and_option_is_in_the_reference() -> None:
    text = (DOCS / "reference" / "cli.md").read_text()
    for path, command in docgen.commands(typer.main.get_command(app), ["mllib-tui"]):
        assert f"## `{' '.join(path)}`" in text
        section = text.split(f"## `{' '.join(path)}`", 1)[1].split("\n## ", 1)[0]
        for param in command.get_params(typer.Context(command)):
            for opt in [] if param.name == "help" else getattr(param, "opts", []):
                if opt.startswith("-"):
                    assert f"`{opt}`" in section, f"{' '.join(path)} {opt}"


def test_quoted_error_lines_are_the_codes() -> None:
    """Each line the troubleshooting page quotes is a string the code raises or prints."""
    source = "".join(
        path.read_text()
        for folder in ("backends", "mllib_tui", "mllib")
        for path in (ROOT / folder).rglob("*.py")
    )
    joined = re.sub(r'"\s*\n\s*f?"', "", source)  # implicit concatenation across lines
    quoted = re.findall(r"^\| `([^`]+)`", (DOCS / "troubleshooting.md").read_text(), re.M)
    assert len(quoted) >= 20
    missing = [line for line in quoted if line not in joined]
    assert not missing, f"quoted in docs/troubleshooting.md but not in the code: {missing}"


def test_links_lead_somewhere() -> None:
    pages = [ROOT / "README.md", *DOCS.rglob("*.md")]
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            file, _, anchor = target.partition("#")
            where = (page.parent / file).resolve() if file else page
            assert where.exists(), f"{page.relative_to(ROOT)}: {target}"
            if anchor and where.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", where.read_text(), re.M)
                slugs = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-")
                         for h in headings}  # fmt: skip
                assert anchor in slugs, f"{page.relative_to(ROOT)}: {target}"


def test_the_readme_stays_short_and_links_the_guide() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "docs/README.md" in readme and len(readme.splitlines()) < 300
