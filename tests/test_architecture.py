"""The layout rules of docs/architecture.md, checked by walking every import; and the document
kept true: it names every module, and no document points outside the repository."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PLATFORM_SDKS = ("telegram", "twilio")


def imports_of(path: Path) -> set[str]:
    """Every module the file imports, anywhere in it; `from bot import dates` counts as bot.dates."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names if is_module(f"{node.module}.{a.name}"))
    return found


def is_module(name: str) -> bool:
    where = REPO.joinpath(*name.split("."))
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


def modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def path_of(module: str) -> Path:
    return REPO.joinpath(*module.split(".")).with_suffix(".py")


@pytest.mark.parametrize("path", modules("alerts"), ids=lambda p: p.name)
def test_alerts_never_imports_bot(path: Path) -> None:
    assert not any(name == "bot" or name.startswith("bot.") for name in imports_of(path))


ENGINE_MODULES = [
    p for p in modules("bot") if "channels" not in p.parts and p.name not in ("app.py", "cli.py", "__main__.py")
]


@pytest.mark.parametrize("path", ENGINE_MODULES, ids=lambda p: p.name)
def test_engine_knows_no_platform(path: Path) -> None:
    for name in imports_of(path):
        assert not name.startswith(PLATFORM_SDKS), f"{path.name} imports {name}"
        assert not name.startswith("bot.channels"), f"{path.name} imports a channel: {name}"


def test_only_the_store_holds_sql() -> None:
    for path in modules("bot"):
        if path.name == "store.py":
            continue
        text = path.read_text(encoding="utf-8")
        for statement in ("SELECT ", "INSERT INTO", "DELETE FROM", "UPDATE "):
            assert statement not in text, f"{path.name} contains SQL ({statement.strip()})"


def test_nothing_but_config_reads_the_environment() -> None:
    for package in ("bot", "alerts"):
        for path in modules(package):
            if path.name != "config.py":
                assert "os.environ" not in path.read_text(encoding="utf-8"), path.name


# Each feature's modules (its model, chat flow and command line). Answering (bot.answers, bot.faq,
# bot.triage, bot.judgement) is not a feature: every message passes through it, and the engine and
# the guided report build on it.
FEATURES = {
    "bot.training": "training",
    "bot.training_flow": "training",
    "bot.sessions_cli": "training",
    "bot.alerts_flow": "alerts",
    "bot.alerts_cli": "alerts",
    "bot.report_flow": "reports",
    "bot.my_data": "my data",
    "bot.coordinators_cli": "coordinators",
}


@pytest.mark.parametrize("module", sorted(FEATURES))
def test_no_feature_imports_another(module: str) -> None:
    for name in imports_of(path_of(module)):
        other = FEATURES.get(name, FEATURES[module])
        assert other == FEATURES[module], f"{module} ({FEATURES[module]}) imports {name} ({other})"


# The composition root, the entry points and the coordinators' commands, settings and the web app.
APP_LAYER = {"bot.app", "bot.cli", "bot.__main__", "bot.config", "bot.web"} | {
    f"bot.{path.stem}" for path in modules("bot") if path.stem.endswith("_cli")
}


@pytest.mark.parametrize("path", modules("bot/channels"), ids=lambda p: p.name)
def test_channels_never_import_the_app_layer(path: Path) -> None:
    found = sorted(imports_of(path) & APP_LAYER)
    assert found == [], f"{path.name} imports the app layer: {', '.join(found)}"


# What every part builds on: neutral types, text, rendering, dates, languages, numbers, flood
# control, logging, roles, request bodies and metrics.
CORE = ["bot.messages", "bot.text", "bot.render", "bot.dates", "bot.languages", "bot.phone", "bot.ratelimit",
        "bot.logs", "bot.roles", "bot.http_body", "bot.metrics"]  # fmt: skip
CONTENT_LOADING = {"bot.content", "bot.content_check", "bot.translations"}


@pytest.mark.parametrize("module", CORE)
def test_the_core_never_imports_content_loading(module: str) -> None:
    found = sorted(imports_of(path_of(module)) & CONTENT_LOADING)
    assert found == [], f"{module} imports {', '.join(found)}: define the type in the core, or a Protocol"


ARCHITECTURE = REPO / "docs" / "architecture.md"


def test_the_architecture_document_names_every_module() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    missing = [
        str(path.relative_to(REPO))
        for package in ("bot", "alerts")
        for path in modules(package)
        if path.name != "__init__.py" and "migrations" not in path.parts
        and str(path.relative_to(REPO).with_suffix("")) not in text and str(path.relative_to(REPO)) not in text
    ]  # fmt: skip
    assert missing == []


@pytest.mark.parametrize(
    "path", [REPO / "README.md", REPO / "SECURITY.md", *sorted((REPO / "docs").glob("*.md"))], ids=lambda p: p.name
)
def test_documents_stand_on_their_own(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "../" not in text, f"{path.name} points outside the repository"
    for target in re.findall(r"\]\(([^)#]+)\)", text):  # relative Markdown links must resolve
        if not target.startswith(("http://", "https://", "mailto:")):
            assert (path.parent / target).exists(), f"{path.name} links to {target}, which isn't here"
