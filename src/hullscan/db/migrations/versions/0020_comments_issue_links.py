"""finding history kinds (detected, state_change, comment); an issue link per vulnerability; a project's
issue-tracker template

Revision ID: 0020
Revises: 0010, 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = ("0010", "0011")
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vulnerability_state_transitions") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="state_change"))
    transitions = sa.table("vulnerability_state_transitions", sa.column("kind", sa.String),
                           sa.column("from_state", sa.String), sa.column("to_state", sa.String),
                           sa.column("comment", sa.Text))
    op.execute(transitions.update().where(transitions.c.from_state.is_(None)).values(kind="detected"))
    op.execute(transitions.update().where(transitions.c.from_state == transitions.c.to_state,
                                          transitions.c.comment.is_not(None)).values(kind="comment"))
    op.create_table(
        "vulnerability_issue_links",
        sa.Column("vulnerability_id", sa.Integer,
                  sa.ForeignKey("vulnerabilities.id", ondelete="CASCADE",
                                name="fk_vulnerability_issue_links_vulnerability_id_vulne_e55364da"),
                  nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("vulnerability_id", name="pk_vulnerability_issue_links"),
    )
    op.create_table(
        "vulnerability_issue_trackers",
        sa.Column("project_id", sa.Integer,
                  sa.ForeignKey("projects.id", ondelete="CASCADE",
                                name="fk_vulnerability_issue_trackers_project_id_projects"),
                  nullable=False),
        sa.Column("url_template", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("project_id", name="pk_vulnerability_issue_trackers"),
    )


def downgrade() -> None:
    op.drop_table("vulnerability_issue_trackers")
    op.drop_table("vulnerability_issue_links")
    with op.batch_alter_table("vulnerability_state_transitions") as batch:
        batch.drop_column("kind")
