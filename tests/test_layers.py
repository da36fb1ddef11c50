"""The house's layers, read from the source (ast, nothing imported): a part never imports the web layer above it,
and the UI reads the parts through their services, never their tables. A change that breaks either fails here
naming the file, the line and what it imported or called."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "hullscan"

# Above every part: the command line wires the server together, so it may start the web application.
TOP = {SRC / "cli.py", SRC / "__main__.py"}

# Row types the UI names in annotations and templates: the services return them, the UI never queries them.
ALLOWED_MODEL_NAMES = {
    "Project": "the project a page is about, as auth.projects and web.ui.deps return it",
    "Vulnerability": "rows vulnerabilities.service returns (report pages, the finding page)",
    "Pipeline": "rows pipelines.service returns (pipeline pages)",
    "User": "the signed-in user auth.service returns (user settings pages)",
    "Job": "the last scan job pipelines.service returns for a tag (images page)",
    "JobArtifact": "the SBOM artifact pipelines.service returns for a tag (images page)",
}
# Calls that read or write tables: the UI asks a service instead.
QUERY_CALLS = {"select", "execute", "scalars", "scalar", "query"}


def _modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "migrations" not in p.parts)


def _imports(tree: ast.AST) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every import, at any depth (function-level imports count too)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module, [alias.name for alias in node.names]))
    return found


def _web_imports(tree: ast.AST) -> list[tuple[int, str]]:
    return [(line, module) for line, module, names in _imports(tree)
            if module == "hullscan.web" or module.startswith("hullscan.web.") or (module == "hullscan" and "web" in names)]


def _table_reads(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) of each table import outside the allowed row types, SQL import, and query call."""
    found = []
    for line, module, names in _imports(tree):
        if module.startswith("hullscan.db.models"):
            found += [(line, f"imports the table {name} from {module}") for name in names
                      if name not in ALLOWED_MODEL_NAMES]
        elif module.startswith("sqlalchemy") and module != "sqlalchemy.orm":
            found.append((line, f"imports {module} {', '.join(names)}"))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in QUERY_CALLS or (name == "get" and isinstance(func, ast.Attribute)
                                   and isinstance(func.value, ast.Name) and func.value.id == "session"):
            found.append((node.lineno, f"queries the database itself ({name})"))
    return found


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(SRC.parent)}:{line}"


def test_no_part_imports_the_web_layer() -> None:
    web = SRC / "web"
    offenders = [f"{_where(path, line)} imports {module}"
                 for path in _modules(SRC) if path not in TOP and web not in path.parents
                 for line, module in _web_imports(ast.parse(path.read_text(), str(path)))]
    assert not offenders, "parts import the web layer above them:\n" + "\n".join(offenders)


def test_the_ui_reads_parts_through_their_services() -> None:
    offenders = [f"{_where(path, line)} {what}" for path in _modules(SRC / "web" / "ui")
                 for line, what in _table_reads(ast.parse(path.read_text(), str(path)))]
    assert not offenders, "the UI reads tables instead of calling the owning part's service:\n" + "\n".join(offenders)


def test_the_checks_see_a_violation() -> None:
    """The walkers find what they look for, at any depth (a check that can never fail proves nothing)."""
    tree = ast.parse("from hullscan.db.models import Project\n"
                     "def f(session):\n    from hullscan.web.deps import IdPath\n"
                     "    from hullscan.db.models.registry import RegistryTag\n    from sqlalchemy import select\n"
                     "    return session.get(RegistryTag, 1), session.execute(select(RegistryTag))\n")
    assert _web_imports(tree) == [(3, "hullscan.web.deps")]
    assert sorted(_table_reads(tree)) == [
        (4, "imports the table RegistryTag from hullscan.db.models.registry"),
        (5, "imports sqlalchemy select"),
        (6, "queries the database itself (execute)"),
        (6, "queries the database itself (get)"),
        (6, "queries the database itself (select)"),
    ]
