"""All models, one module per part. Importing this registers every table on Base.metadata.

Other parts call a part's service module, not these tables. Each part's module is imported here once;
parts add their tables to their own module (and their own Alembic revision under migrations/versions).
"""

from hullscan.db.base import Base
from hullscan.db.models import advisories, auth, events, pipelines, policy, projects, registry, vex, vulnerabilities  # noqa: F401,E501
from hullscan.db.models.events import ContainerRegistryEvent
from hullscan.db.models.projects import Project

__all__ = ["Base", "ContainerRegistryEvent", "Project"]
