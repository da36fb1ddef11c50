"""What the events policy hands to pipelines: one qualifying manifest push (GitLab's ImagePushedEvent)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImagePushedEvent:
    """A tagged manifest or index push that passed the policy. `image` is `<host>/<repository>:<tag>`."""

    project_id: int
    registry_host: str
    repository: str
    tag: str
    digest: str | None
    origin: str  # embedded | webhook | reconcile
    registry_event_id: int | None = None

    @property
    def image(self) -> str:
        return f"{self.registry_host}/{self.repository}:{self.tag}"


# Reasons a push did not become a scan (shown to users as written).
NOT_A_PUSH = "not a push"
UNTAGGED = "untagged"
PROJECT_UNKNOWN = "project unknown"
FEATURE_OFF = "feature off"
SETTING_OFF = "setting off"
TAG_NOT_MATCHED = "tag not matched"
RATE_LIMITED = "rate limited"
DUPLICATE = "duplicate"
NOT_AN_IMAGE = "not an image"  # an SBOM, Helm chart or signature pushed with a tag: stored, nothing to scan
DROP_REASONS = (NOT_A_PUSH, UNTAGGED, PROJECT_UNKNOWN, FEATURE_OFF, SETTING_OFF, TAG_NOT_MATCHED, RATE_LIMITED,
                DUPLICATE, NOT_AN_IMAGE)
