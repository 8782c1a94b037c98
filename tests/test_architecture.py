"""The layout rules of DESIGN.md, checked by walking every import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PLATFORM_SDKS = ("telegram", "twilio")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


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
