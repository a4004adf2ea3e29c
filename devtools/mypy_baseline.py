"""mypy over the project's packages, held to a baseline that may only shrink (``make lint``).

    python -m devtools.mypy_baseline            # check: fail if any file has more errors
    python -m devtools.mypy_baseline --update   # write the current counts (make mypy-baseline)

mypy.ini holds the configuration (django-stubs, djangorestframework-stubs). This runner
names what to check, every top-level package of the repository but ``tests``, so a new
app is checked the day it appears. ``mypy-baseline.txt`` holds one ``path: count`` line per
file that has errors, sorted. The check fails when a file has more errors than its line
allows or a file without a line has any; fewer errors pass, and ``--update`` then locks
them in. 0 errors everywhere is the aim: an empty baseline.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "mypy-baseline.txt"
CONFIG = ROOT / "mypy.ini"
NOT_CHECKED = {"tests"}
UPDATE_COMMAND = "python -m devtools.mypy_baseline --update"
# mypy's django-stubs plugin imports the settings (beeapi.settings_test, named in mypy.ini):
# with DEBUG=true they need no database URL or secret, and no database is connected to.
# BEEAPI_DEVTOOLS installs the dev-only app, as `make manage` does.
SETTINGS_ENV = {"DEBUG": "true", "BEEAPI_DEVTOOLS": "true"}

# "path:line: error: message  [code]" (a column after the line when mypy is told to show it).
ERROR_LINE = re.compile(r"^(?P<path>.+?):\d+(?::\d+)?: error: .*?(?:  \[(?P<code>[a-z0-9-]+)\])?$")
# A file-level error has no line number ("path: error: ...").
FILE_ERROR_LINE = re.compile(r"^(?P<path>[^:]+): error: .*?(?:  \[(?P<code>[a-z0-9-]+)\])?$")


class MypyError:
    __slots__ = ("path", "code", "text")

    def __init__(self, path: str, code: str, text: str) -> None:
        self.path = path
        self.code = code
        self.text = text


def packages() -> list[str]:
    """Every top-level directory with an ``__init__.py``, tests aside."""
    return sorted(
        entry.name
        for entry in ROOT.iterdir()
        if entry.is_dir()
        and not entry.name.startswith(".")
        and entry.name not in NOT_CHECKED
        and (entry / "__init__.py").is_file()
    )


def _relative(path: str) -> str:
    """The path relative to the repository, with forward slashes, however mypy spelt it."""
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = ROOT / candidate
    try:
        return candidate.resolve().relative_to(ROOT).as_posix()
    except ValueError:  # outside the repository (a stub, say): keep what mypy printed
        return Path(path).as_posix()


def parse(output: str) -> list[MypyError]:
    errors = []
    for line in output.splitlines():
        match = ERROR_LINE.match(line) or FILE_ERROR_LINE.match(line)
        if match:
            path = _relative(match["path"])
            text = path + line[len(match["path"]) :]
            errors.append(MypyError(path, match["code"] or "no-code", text))
    return errors


def run_mypy() -> list[MypyError]:
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        str(CONFIG),
        "--show-absolute-path",
        "--no-pretty",
        "--no-color-output",
        "--no-error-summary",
        *packages(),
    ]
    env = {**os.environ, **SETTINGS_ENV}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    errors = parse(result.stdout)
    # 0: clean, 1: type errors. Anything else (2: bad configuration, settings that do not
    # import, a crash) or a 1 without a parsable error is not a count to compare.
    if result.returncode not in (0, 1) or (result.returncode == 1 and not errors):
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"mypy did not run to the end (exit {result.returncode})")
    return errors


def read_baseline(path: Path = BASELINE) -> dict[str, int]:
    counts: dict[str, int] = {}
    if not path.exists():
        return counts
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, count = line.rpartition(":")
        if not sep or not count.strip().isdigit():
            raise SystemExit(f"{path.name}:{number}: expected `path: count`, got {line!r}")
        counts[name.strip()] = int(count)
    return counts


def write_baseline(counts: dict[str, int], path: Path = BASELINE) -> None:
    path.write_text("".join(f"{name}: {counts[name]}\n" for name in sorted(counts) if counts[name]))


def _errors(count: int) -> str:
    return f"{count} error" if count == 1 else f"{count} errors"


def _by_code(errors: list[MypyError]) -> str:
    codes = Counter(error.code for error in errors)
    return ", ".join(f"{code} {count}" for code, count in sorted(codes.items()))


def check(errors: list[MypyError], baseline: dict[str, int]) -> int:
    by_file: dict[str, list[MypyError]] = {}
    for error in errors:
        by_file.setdefault(error.path, []).append(error)
    total, allowed = len(errors), sum(baseline.values())

    grown = sorted(name for name, found in by_file.items() if len(found) > baseline.get(name, 0))
    if grown:
        print(f"mypy: {total} errors (baseline {allowed}); more than the baseline allows in:")
        for name in grown:
            found = by_file[name]
            was = baseline.get(name)
            limit = "not in the baseline" if was is None else f"baseline {was}"
            print(f"  {name}: {_errors(len(found))} ({limit}): {_by_code(found)}")
            for error in found:
                print(f"    {error.text}")
        gone = sorted(name for name in baseline if not (ROOT / name).exists())
        if gone:
            print(
                f"Files in the baseline that no longer exist: {', '.join(gone)}. If their code "
                f"moved with its errors, `{UPDATE_COMMAND}` carries the counts to the new paths."
            )
        print(
            "Fix the errors above (every error of a file is listed; its new ones are among them)."
        )
        return 1

    if total < allowed:
        print(
            f"mypy: {total} errors (baseline {allowed}); {allowed - total} fewer: "
            f"run `{UPDATE_COMMAND}` to lock them in"
        )
    else:
        print(f"mypy: {total} errors (baseline {allowed})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--update", action="store_true", help=f"write the current counts to {BASELINE.name}"
    )
    args = parser.parse_args(argv)
    errors = run_mypy()
    if args.update:
        before = read_baseline()
        counts = dict(Counter(error.path for error in errors))
        write_baseline(counts)
        print(
            f"{BASELINE.name}: {len(errors)} errors in {len(counts)} files "
            f"(was {sum(before.values())} in {len(before)})"
        )
        return 0
    return check(errors, read_baseline())


if __name__ == "__main__":
    sys.exit(main())
