"""Declared dependencies are exactly what the code imports.

Every import of the shipped packages maps (through the installed distributions) to a
`[project] dependencies` entry and every entry is imported; the same holds for tests/ and
benchmarks/ against the `test` extra. The few entries nothing imports say why, and the
reason is checked.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PRODUCT = ("arena", "serving", "ratings", "migrations")
CHECKS = ("tests", "benchmarks")

# Run by the vLLM runtime's own interpreter as a script (serving/prepare.py), never imported
# by the product: its torch and transformers come from that runtime venv.
RUNTIME_SCRIPTS = {"serving/convert_gguf.py"}
# Declared and needed, but imported by name at run time rather than by an import statement:
# distribution -> (file, the text there that loads it).
LOADED_BY_NAME = {
    "psycopg": ("arena/db.py", "postgresql+psycopg"),  # SQLAlchemy's dialect for the URL
    "redis": ("arena/ratelimit.py", 'implementation="redispy"'),  # limits' Redis storage
}
# Test tools used as commands, stubs or a pytest plugin switched on in pyproject.toml.
TOOLS = {"ruff", "mypy", "types-pygments", "pytest-asyncio"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(requirements: list[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        found = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        assert found, requirement
        names.add(canonical(found.group()))
    return names


def modules(*roots: str) -> list[Path]:
    return [
        path
        for root in roots
        for path in sorted((ROOT / root).rglob("*.py"))
        if path.relative_to(ROOT).as_posix() not in RUNTIME_SCRIPTS
    ]


def imported(paths: list[Path]) -> dict[str, set[str]]:
    """Top-level module name -> files importing it (absolute imports only)."""
    found: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(path.relative_to(ROOT).as_posix())
    return found


def distributions(paths: list[Path]) -> dict[str, set[str]]:
    """Third-party distribution -> files importing it; first-party and stdlib left out."""
    owners = packages_distributions()
    local = {p.stem for p in paths} | set(CHECKS)  # pytest puts test folders on sys.path
    result: dict[str, set[str]] = {}
    unknown: dict[str, set[str]] = {}
    for module, files in imported(paths).items():
        if module in sys.stdlib_module_names or module in local:
            continue
        dists = {canonical(d) for d in owners.get(module, [])}
        if not dists:
            unknown[module] = files
        for dist in dists - {canonical(PROJECT["name"])}:
            result.setdefault(dist, set()).update(files)
    assert unknown == {}, "imported but installed by no distribution"
    return result


def test_scan_sees_the_product() -> None:
    found = distributions(modules(*PRODUCT))
    assert {"fastapi", "sqlalchemy", "numpy", "anyio", "httpcore", "markupsafe"} <= set(found)
    assert "arena/web/render.py" in found["markdown-it-py"]


def test_product_dependencies_are_what_the_product_imports() -> None:
    used = set(distributions(modules(*PRODUCT)))
    main = declared(PROJECT["dependencies"])
    for dist, (path, needle) in LOADED_BY_NAME.items():
        assert dist in main and needle in (ROOT / path).read_text(), dist
    assert sorted(used - main) == [], "imported but not in [project] dependencies"
    assert sorted(main - used - set(LOADED_BY_NAME)) == [], "declared but never imported"


def test_test_extra_is_what_tests_and_benchmarks_import() -> None:
    used = set(distributions(modules(*CHECKS)))
    main = declared(PROJECT["dependencies"])
    test = declared(PROJECT["optional-dependencies"]["test"])
    assert test & main == set(), "in both [project] dependencies and the test extra"
    assert test >= TOOLS
    assert sorted(used - main - test) == [], "imported by tests or benchmarks, not declared"
    assert sorted(test - used - TOOLS) == [], "in the test extra but never imported"


def test_runtime_scripts_are_never_imported() -> None:
    for script in RUNTIME_SCRIPTS:
        module = script.removesuffix(".py").replace("/", ".")
        package, _, name = module.rpartition(".")
        users = {
            path
            for path in modules(*PRODUCT, *CHECKS)
            for node in ast.walk(ast.parse(path.read_text()))
            if (isinstance(node, ast.Import) and any(a.name == module for a in node.names))
            or (
                isinstance(node, ast.ImportFrom)
                and (
                    node.module == module
                    or (node.module == package and any(a.name == name for a in node.names))
                )
            )
        }
        assert users == set(), script
        assert Path(script).name in (ROOT / "serving" / "prepare.py").read_text()
