"""The README names every environment variable the project reads."""

from __future__ import annotations

import re

from tests.conftest import BASE_DIR

READS = re.compile(
    r"""(?:environ(?:\.get)?\(|environ\[|env_(?:bool|int|list)\()\s*["']([A-Z][A-Z0-9_]+)["']"""
)
# Read only to pass on or to find programs: not the project's configuration.
NOT_CONFIGURATION = {"PATH", "DJANGO_SETTINGS_MODULE"}


def _project_sources():
    for top in sorted(BASE_DIR.iterdir()):
        if top.name.startswith(".") or top.name in {"tests", "bench", "var", "artifacts"}:
            continue
        if top.suffix == ".py":
            yield top
        elif top.is_dir() and (top / "__init__.py").exists():
            yield from sorted(top.rglob("*.py"))


def _variables_read() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in _project_sources():
        for name in READS.findall(path.read_text()):
            found.setdefault(name, str(path.relative_to(BASE_DIR)))
    return {name: where for name, where in found.items() if name not in NOT_CONFIGURATION}


def test_every_environment_variable_read_is_documented_in_the_readme():
    readme = (BASE_DIR / "README.md").read_text()
    variables = _variables_read()
    assert {"DATABASE_URL", "OPSCORE_SECRET_KEY", "OPSCORE_PORT", "OPSCORE_EMAIL_PORT"} <= set(
        variables
    )
    missing = {name: where for name, where in variables.items() if f"`{name}`" not in readme}
    assert not missing, f"read but not in README.md: {missing}"
