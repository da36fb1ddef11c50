"""the vulnerabilities part's two heads (finding history and issue links; VEX statements) joined into one, so the
part's revisions read as one chain again; changes no table

Revision ID: 0029
Revises: 0020, 0027
"""

revision = "0029"
down_revision = ("0020", "0027")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
