"""`hullscan scan --ignorefile`: Trivy's and Grype's ignore files, so a project's existing `.trivyignore` or
`.grype.yaml` works unchanged.

Trivy's two formats, as Trivy documents them (https://aquasecurity.github.io/trivy/latest/docs/configuration/filtering/):
- `.trivyignore`: one vulnerability id a line, `#` comments, an optional `exp:YYYY-MM-DD` after the id after
  which the line no longer applies;
- `.trivyignore.yaml` (any `.yaml`/`.yml` name): `vulnerabilities:` entries with `id`, optional `paths`
  (globs on the package's file path), `purls` (a package; without a version, every version of it),
  `expired_at` and `statement`. Other sections (misconfigurations, secrets, licenses) do not apply to a
  vulnerability scan and are skipped.

Grype's (`.grype.yaml`, or any YAML file with a top-level `ignore:` list; https://github.com/anchore/grype
"Specifying matches to ignore"): each rule names any of `vulnerability`, `fix-state` (fixed, not-fixed,
wont-fix, unknown), `package` (`name`, `version`, `type`, `location` glob) and hides the findings that match
every field it names; `reason` is kept as the rule's statement, `vex-*` and other fields are not ours to judge
and make the rule match nothing rather than too much. Our fix states map to Grype's as: fixed versions known →
fixed; `unfixed` → not-fixed; `wont_fix` and `end_of_life` → wont-fix; no fixed version otherwise → unknown.
Grype's package types map to ours (java-archive → java/maven, go-module → go/golang, rust-crate → cargo,
dotnet → nuget, php-composer → composer, python → python/pypi).

The file is untrusted input: its size and the number of entries it can expand to are bounded, and every
problem is an `IgnoreFileError` naming the line or entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from hullscan.matching.finding import Finding

MAX_BYTES = 1024 * 1024
MAX_ITEMS = 100_000  # entries, paths and purls together, however YAML aliases repeat them
DEFAULT_FILE = ".trivyignore"
DEFAULT_FILES = (DEFAULT_FILE, ".grype.yaml")  # read from the working directory, the first that exists
GRYPE_FIX_STATES = ("fixed", "not-fixed", "wont-fix", "unknown")
GRYPE_TYPES = {"java-archive": ("java", "maven"), "jenkins-plugin": ("java", "maven"), "go-module": ("go", "golang"),
               "rust-crate": ("cargo",), "dotnet": ("nuget",), "php-composer": ("composer",),
               "python": ("python", "pypi")}
_GRYPE_RULE_KEYS = {"vulnerability", "fix-state", "package", "reason"}
_GRYPE_PACKAGE_KEYS = {"name", "version", "type", "location"}


class IgnoreFileError(ValueError):
    """The ignore file cannot be read or does not follow its format."""


@dataclass(frozen=True)
class IgnoreRule:
    """One vulnerability (or, from Grype's rules, any vulnerability: `id` None) to leave out, optionally only
    for some packages or fix states, until an optional date."""

    id: str | None
    paths: tuple[str, ...] = ()
    purls: tuple[str, ...] = ()
    expires: date | None = None
    statement: str | None = None
    fix_state: str | None = None  # Grype's: fixed, not-fixed, wont-fix, unknown
    package_name: str | None = None
    package_version: str | None = None
    package_types: tuple[str, ...] = ()

    def applies(self, finding: Finding, today: date) -> bool:
        """True when this rule hides `finding` today (any of its ids; its package within paths/purls, and the
        Grype fields it names)."""
        if self.expires is not None and today > self.expires:
            return False
        if self.id is not None and self.id != finding.vulnerability_id and self.id not in finding.identifiers:
            return False
        package = finding.package
        if self.fix_state is not None and grype_fix_state(finding) != self.fix_state:
            return False
        if self.package_name is not None and package.name != self.package_name:
            return False
        if self.package_version is not None and package.version != self.package_version:
            return False
        if self.package_types and package.type not in self.package_types:
            return False
        if self.paths:
            where = (package.path or "").lstrip("/")
            if not any(fnmatchcase(where, pattern.lstrip("/")) for pattern in self.paths):
                return False
        if self.purls and not any(_same_package(p, package.purl) for p in self.purls):
            return False
        return True


@dataclass
class IgnoreRules:
    """The rules of one file; `apply` splits findings into kept and ignored."""

    rules: list[IgnoreRule] = field(default_factory=list)

    def apply(self, findings: Iterable[Finding], today: date | None = None) -> tuple[list[Finding], list[Finding]]:
        today = today or date.today()
        by_id: dict[str, list[IgnoreRule]] = {}
        for rule in self.rules:
            if rule.id is not None:
                by_id.setdefault(rule.id, []).append(rule)
        any_id = [rule for rule in self.rules if rule.id is None]
        kept: list[Finding] = []
        ignored: list[Finding] = []
        for finding in findings:
            candidates = [r for i in dict.fromkeys([finding.vulnerability_id, *finding.identifiers])
                          for r in by_id.get(i, ())] + any_id
            (ignored if any(r.applies(finding, today) for r in candidates) else kept).append(finding)
        return kept, ignored


def grype_fix_state(finding: Finding) -> str:
    """The finding's fix state in Grype's words (see the module docstring)."""
    if finding.fixed_versions:
        return "fixed"
    return {"unfixed": "not-fixed", "wont_fix": "wont-fix", "end_of_life": "wont-fix"}.get(finding.fix_state,
                                                                                        "unknown")


def _same_package(rule_purl: str, package_purl: str | None) -> bool:
    """A purl rule names a package: with a version that version only, without one every version of it."""
    if not package_purl:
        return False
    from packageurl import PackageURL

    try:
        want, have = PackageURL.from_string(rule_purl), PackageURL.from_string(package_purl)
    except ValueError:
        return False
    same = (want.type, want.namespace, want.name) == (have.type, have.namespace, have.name)
    return same and (want.version is None or want.version == have.version)


def _date(text: str, where: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise IgnoreFileError(f"{where}: {text!r} is not a date (YYYY-MM-DD)") from None


def parse_trivyignore(text: str) -> IgnoreRules:
    """The plain `.trivyignore` format: `ID [exp:YYYY-MM-DD]` a line, blank lines and `#` comments."""
    rules: list[IgnoreRule] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        expires = None
        for word in words[1:]:
            if not word.startswith("exp:"):
                raise IgnoreFileError(f"line {number}: unexpected {word[:80]!r} after the id (only exp:YYYY-MM-DD)")
            expires = _date(word[4:], f"line {number}")
        rules.append(IgnoreRule(id=words[0], expires=expires))
    return IgnoreRules(rules)


def parse_trivyignore_yaml(text: str) -> IgnoreRules:
    """A YAML ignore file: `.trivyignore.yaml`, or Grype's when it has a top-level `ignore` list."""
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise IgnoreFileError(f"not YAML: {str(exc)[:300]}") from None
    if doc is None:
        return IgnoreRules()
    if not isinstance(doc, dict):
        raise IgnoreFileError("expected a mapping with a `vulnerabilities` list (Trivy) or an `ignore` list (Grype)")
    if "ignore" in doc and "vulnerabilities" not in doc:
        return parse_grype_yaml(doc)
    return _trivy_yaml(doc)


def _trivy_yaml(doc: dict[str, Any]) -> IgnoreRules:
    """The `.trivyignore.yaml` format (parsed): its `vulnerabilities` section."""
    entries = doc.get("vulnerabilities") or []
    if not isinstance(entries, list):
        raise IgnoreFileError("`vulnerabilities` must be a list")
    budget = MAX_ITEMS - len(entries)
    if budget < 0:
        raise IgnoreFileError(f"more than {MAX_ITEMS} entries")
    rules: list[IgnoreRule] = []
    for index, entry in enumerate(entries, 1):
        where = f"vulnerabilities entry {index}"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"].strip():
            raise IgnoreFileError(f"{where}: needs an `id` string")
        lists: dict[str, tuple[str, ...]] = {}
        for key in ("paths", "purls"):
            value: Any = entry.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value[:budget + 1]):
                raise IgnoreFileError(f"{where}: `{key}` must be a list of strings")
            budget -= len(value)
            if budget < 0:
                raise IgnoreFileError(f"more than {MAX_ITEMS} entries, paths and purls")
            lists[key] = tuple(value)
        expires = entry.get("expired_at")
        if isinstance(expires, str):
            expires = _date(expires, where)
        elif expires is not None and not isinstance(expires, date):
            raise IgnoreFileError(f"{where}: `expired_at` must be a date (YYYY-MM-DD)")
        statement = entry.get("statement")
        rules.append(IgnoreRule(id=entry["id"].strip(), paths=lists["paths"], purls=lists["purls"],
                                expires=expires, statement=statement if isinstance(statement, str) else None))
    return IgnoreRules(rules)


def _grype_text(value: Any, where: str, key: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # `version: 1.5` in YAML is a number
    if not isinstance(value, str) or not value.strip():
        raise IgnoreFileError(f"{where}: `{key}` must be a non-empty string")
    return value.strip()


def parse_grype_yaml(doc: dict[str, Any]) -> IgnoreRules:
    """Grype's `ignore:` rules (a parsed `.grype.yaml`)."""
    entries = doc.get("ignore") or []
    if not isinstance(entries, list):
        raise IgnoreFileError("`ignore` must be a list of rules")
    if len(entries) > MAX_ITEMS:
        raise IgnoreFileError(f"more than {MAX_ITEMS} rules")
    rules: list[IgnoreRule] = []
    for index, entry in enumerate(entries, 1):
        where = f"ignore rule {index}"
        if not isinstance(entry, dict):
            raise IgnoreFileError(f"{where}: must be a mapping (vulnerability, fix-state, package, reason)")
        package = entry.get("package") or {}
        if not isinstance(package, dict):
            raise IgnoreFileError(f"{where}: `package` must be a mapping (name, version, type, location)")
        vulnerability = _grype_text(entry.get("vulnerability"), where, "vulnerability")
        fix_state = _grype_text(entry.get("fix-state"), where, "fix-state")
        if fix_state is not None and fix_state not in GRYPE_FIX_STATES:
            raise IgnoreFileError(f"{where}: fix-state {fix_state[:40]!r} is not one of {', '.join(GRYPE_FIX_STATES)}")
        name, version, kind, location = (_grype_text(package.get(k), where, f"package.{k}")
                                         for k in ("name", "version", "type", "location"))
        fields = [vulnerability, fix_state, name, version, kind, location]
        unknown = (set(entry) - _GRYPE_RULE_KEYS) | (set(package) - _GRYPE_PACKAGE_KEYS)
        if unknown:  # vex-status, match-type, upstream-name, ...: a condition we cannot check matches nothing
            continue
        if not any(fields):
            raise IgnoreFileError(f"{where}: names nothing to match (an empty rule would hide every finding)")
        reason = entry.get("reason")
        rules.append(IgnoreRule(
            id=vulnerability, paths=(location,) if location else (), fix_state=fix_state, package_name=name,
            package_version=version, package_types=GRYPE_TYPES.get(kind, (kind,)) if kind else (),
            statement=reason if isinstance(reason, str) else None))
    return IgnoreRules(rules)


def default_ignorefile(directory: Path | None = None) -> Path | None:
    """The ignore file read without --ignorefile: ./.trivyignore, else ./.grype.yaml (as each tool reads it)."""
    for name in DEFAULT_FILES:
        candidate = (directory or Path(".")) / name
        if candidate.is_file():
            return candidate
    return None


def load_ignorefile(path: Path) -> IgnoreRules:
    """Read `path` (bounded) in the format its name says: `.yaml`/`.yml` or the plain one."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise IgnoreFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise IgnoreFileError(f"{path} is larger than {MAX_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise IgnoreFileError(f"{path} is not UTF-8 text") from None
    try:
        if path.suffix in (".yaml", ".yml"):
            return parse_trivyignore_yaml(text)
        return parse_trivyignore(text)
    except IgnoreFileError as exc:
        raise IgnoreFileError(f"{path}: {exc}") from None
