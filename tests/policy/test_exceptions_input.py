"""Exceptions and policies are untrusted input (API, UI form, CLI): any values are either stored as given or
refused with PolicyError, nothing else; and the gate's decision follows what was stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings, strategies as st

from hullscan.auth import projects
from hullscan.db import Database
from hullscan.policy import service
from hullscan.settings import Settings

NOW = datetime(2026, 6, 1, tzinfo=UTC)
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(identifier=text | st.just("CVE-2024-\x000727"), reason=text | st.just("nul \x00 inside"), repository=st.one_of(st.none(), text, st.just("team/app/web")),
       digest=st.one_of(st.none(), text, st.just("sha256:" + "a" * 64)),
       days=st.integers(min_value=-5, max_value=400))
def test_any_exception_input_is_stored_or_refused(migrated_settings: Settings, identifier: str, reason: str,
                                                  repository: str | None, digest: str | None, days: int) -> None:
    db = Database(migrated_settings)
    try:
        with db.session() as s:
            project = projects.get_project(s, "team/app") or projects.create_project(s, "team/app")
            spec = service.ExceptionSpec(identifier=identifier, reason=reason, expires_at=NOW + timedelta(days=days),
                                         repository=repository, image_digest=digest)
            try:
                row = service.add_exception(s, project.id, project.path, spec, author="fuzz", now=NOW)
            except service.PolicyError:
                s.rollback()
                return
            assert row.identifier == identifier.strip() and 0 < len(row.identifier) <= 128
            assert row.identifier.isprintable() and "\x00" not in row.reason
            assert 0 < days <= service.MAX_EXCEPTION_DAYS
            assert repository is None or repository.startswith("team/app/")
            assert service.exception_json(row, NOW)["expired"] is False
            s.rollback()
    finally:
        db.dispose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(severity=text | st.sampled_from(["critical", "high", "medium", "low", "unknown"]),
       grace=st.integers(min_value=-10, max_value=1000))
def test_any_policy_input_is_stored_or_refused(migrated_settings: Settings, severity: str, grace: int) -> None:
    db = Database(migrated_settings)
    try:
        with db.session() as s:
            project = projects.get_project(s, "team/app") or projects.create_project(s, "team/app")
            wanted = service.PolicySettings(gate_enabled=True, min_severity=severity, grace_days=grace)
            try:
                service.set_policy(s, project.id, wanted, author="fuzz")
            except service.PolicyError:
                assert severity not in ("critical", "high", "medium", "low") or not 0 <= grace <= 365
                s.rollback()
                return
            assert service.get_policy(s, project.id) == wanted
            s.rollback()
    finally:
        db.dispose()
