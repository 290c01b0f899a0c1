"""The code's layout as the README describes it: one row per module in its table, no engine file grown past a job."""

from __future__ import annotations

from tests.resources import REPO

LONGEST_CORE_FILE = 400  # lines (issue 15: "no file in core/ over about 400 lines")


def _modules(*folders: str) -> set[str]:
    return {
        path.relative_to(REPO).as_posix() for folder in folders for path in (REPO / folder).glob("*.py") if not path.name.startswith("__")
    }


def test_the_readmes_module_table_names_every_module_and_no_other():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    first_cells = [line.split("|")[1] for line in readme.splitlines() if line.startswith(("| `core/", "| `benchmarks/"))]
    named = {name.strip(" `") for cell in first_cells for name in cell.split(",")}
    modules = _modules("core", "benchmarks")

    assert not modules - named, f"modules without a row in the README's module table: {sorted(modules - named)}"
    assert not named - modules, f"README rows for modules that do not exist: {sorted(named - modules)}"


def test_no_core_file_is_longer_than_one_job():
    lengths = {name: len((REPO / name).read_text(encoding="utf-8").splitlines()) for name in _modules("core")}

    assert not {name: lines for name, lines in lengths.items() if lines > LONGEST_CORE_FILE}, lengths
