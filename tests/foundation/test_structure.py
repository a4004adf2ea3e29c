"""Structure the import contracts (.importlinter) cannot see: no package imports another
package's private names.

A leading underscore says "only this package uses it": such a name may change or go
whenever its own package changes, so a package that borrows it breaks unseen. What
several apps need is published under a public name, in core (the shared layer) or in
the lower app it belongs to.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Tests may reach into what they test.
NOT_CHECKED = {"tests"}


def _packages(root: Path) -> list[str]:
    """Every top-level package of the repository (a directory with __init__.py)."""
    return sorted(
        entry.name
        for entry in root.iterdir()
        if entry.is_dir()
        and not entry.name.startswith(".")
        and entry.name not in NOT_CHECKED
        and (entry / "__init__.py").is_file()
    )


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(root: Path) -> Iterator[str]:
    """``path:line: from X import _name`` for every import of a private name (or from a
    private module) of another top-level package than the importing file's own."""
    packages = set(_packages(root))
    for package in sorted(packages):
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            where = path.relative_to(root).as_posix()
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    imported = [(node.module, [alias.name for alias in node.names])]
                elif isinstance(node, ast.Import):
                    imported = [(alias.name, []) for alias in node.names]
                else:
                    continue
                for module, names in imported:
                    top, *rest = module.split(".")
                    if top not in packages or top == package:
                        continue
                    for name in [*rest, *names]:
                        if _private(name):
                            yield f"{where}:{node.lineno}: {module} {name}"


def test_no_package_imports_another_packages_private_names() -> None:
    found = list(private_imports(ROOT))
    assert found == [], (
        "Private names imported from another package (publish them, in core or in the "
        "package that owns them):\n" + "\n".join(found)
    )


def test_the_check_sees_a_borrowed_private_name(tmp_path: Path) -> None:
    for package, source in {
        "lower": "def _helper():\n    pass\n",
        "upper": "from lower.mod import _helper\nfrom lower._impl import thing\n"
        "import lower._impl\nfrom upper.own import _mine\n",
    }.items():
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        (tmp_path / package / "mod.py").write_text(source)
    assert list(private_imports(tmp_path)) == [
        "upper/mod.py:1: lower.mod _helper",
        "upper/mod.py:2: lower._impl _impl",
        "upper/mod.py:3: lower._impl _impl",
    ]
