"""sbom sources and occurrences, vulnerabilities, transitions, sightings; project auto-resolve

Revision ID: 0006
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

import hullscan.db.base

revision = "0006"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ingestion_cursors',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.Column('updated_at', hullscan.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_ingestion_cursors'))
    )
    op.create_table('sbom_sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('source_type', sa.SmallInteger(), nullable=False),
    sa.Column('image_name', sa.String(length=512), nullable=False),
    sa.Column('image_tag', sa.String(length=128), nullable=False),
    sa.Column('image_digest', sa.String(length=160), nullable=True),
    sa.Column('os_name', sa.String(length=64), nullable=True),
    sa.Column('os_version', sa.String(length=64), nullable=True),
    sa.Column('pipeline_id', sa.Integer(), nullable=True),
    sa.Column('scanned_at', hullscan.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_sbom_sources_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sbom_sources')),
    sa.UniqueConstraint('project_id', 'source_type', 'image_name', 'image_tag', name='uq_sbom_sources_image')
    )
    with op.batch_alter_table('sbom_sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sbom_sources_project_id'), ['project_id'], unique=False)

    op.create_table('vulnerabilities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('report_type', sa.SmallInteger(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('dismissal_reason', sa.String(length=32), nullable=True),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('severity_rank', sa.SmallInteger(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('solution', sa.Text(), nullable=True),
    sa.Column('primary_identifier', sa.String(length=128), nullable=False),
    sa.Column('identifiers', sa.JSON(), nullable=False),
    sa.Column('links', sa.JSON(), nullable=False),
    sa.Column('advisory_ids', sa.JSON(), nullable=False),
    sa.Column('location', sa.JSON(), nullable=False),
    sa.Column('location_fingerprint', sa.String(length=40), nullable=False),
    sa.Column('identifier_fingerprint', sa.String(length=40), nullable=False),
    sa.Column('image', sa.String(length=512), nullable=False),
    sa.Column('image_name', sa.String(length=512), nullable=False),
    sa.Column('image_tag', sa.String(length=128), nullable=True),
    sa.Column('image_digest', sa.String(length=160), nullable=True),
    sa.Column('operating_system', sa.String(length=128), nullable=True),
    sa.Column('package_name', sa.String(length=512), nullable=False),
    sa.Column('package_version', sa.String(length=255), nullable=False),
    sa.Column('package_type', sa.String(length=32), nullable=True),
    sa.Column('layer_digest', sa.String(length=160), nullable=True),
    sa.Column('fixed_versions', sa.JSON(), nullable=False),
    sa.Column('fix_state', sa.String(length=16), nullable=True),
    sa.Column('has_fix', sa.Boolean(), nullable=False),
    sa.Column('cvss_score', sa.Float(), nullable=True),
    sa.Column('cvss_vector', sa.String(length=255), nullable=True),
    sa.Column('known_exploited', sa.Boolean(), nullable=False),
    sa.Column('epss_score', sa.Float(), nullable=True),
    sa.Column('activity', sa.String(length=32), nullable=False),
    sa.Column('detected_at', hullscan.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', hullscan.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('no_longer_detected', sa.Boolean(), nullable=False),
    sa.Column('no_longer_detected_at', hullscan.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', hullscan.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', hullscan.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_vulnerabilities_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vulnerabilities')),
    sa.UniqueConstraint('uuid', name=op.f('uq_vulnerabilities_uuid'))
    )
    with op.batch_alter_table('vulnerabilities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vulnerabilities_detected_at'), ['detected_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_vulnerabilities_image'), ['image'], unique=False)
        batch_op.create_index(batch_op.f('ix_vulnerabilities_package_name'), ['package_name'], unique=False)
        batch_op.create_index(batch_op.f('ix_vulnerabilities_primary_identifier'), ['primary_identifier'], unique=False)
        batch_op.create_index('ix_vulnerabilities_project_report', ['project_id', 'report_type', 'state'], unique=False)

    op.create_table('sbom_occurrences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=512), nullable=False),
    sa.Column('version', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('purl', sa.Text(), nullable=True),
    sa.Column('source_name', sa.String(length=512), nullable=True),
    sa.Column('source_version', sa.String(length=255), nullable=True),
    sa.Column('path', sa.Text(), nullable=True),
    sa.Column('layer_digest', sa.String(length=160), nullable=True),
    sa.Column('layer_diff_id', sa.String(length=160), nullable=True),
    sa.Column('ecosystem', sa.String(length=64), nullable=True),
    sa.Column('package_key', sa.String(length=512), nullable=True),
    sa.Column('alt_package_key', sa.String(length=512), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_sbom_occurrences_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['sbom_sources.id'], name=op.f('fk_sbom_occurrences_source_id_sbom_sources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sbom_occurrences'))
    )
    with op.batch_alter_table('sbom_occurrences', schema=None) as batch_op:
        batch_op.create_index('ix_sbom_occurrences_alt_match_key', ['ecosystem', 'alt_package_key'], unique=False)
        batch_op.create_index('ix_sbom_occurrences_match_key', ['ecosystem', 'package_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_sbom_occurrences_source_id'), ['source_id'], unique=False)

    op.create_table('vulnerability_sightings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vulnerability_id', sa.Integer(), nullable=False),
    sa.Column('image_tag', sa.String(length=128), nullable=False),
    sa.Column('image_digest', sa.String(length=160), nullable=False),
    sa.Column('first_seen_at', hullscan.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', hullscan.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['vulnerability_id'], ['vulnerabilities.id'], name=op.f('fk_vulnerability_sightings_vulnerability_id_vulnerabilities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vulnerability_sightings')),
    sa.UniqueConstraint('vulnerability_id', 'image_tag', 'image_digest', name='uq_vulnerability_sightings_where')
    )
    with op.batch_alter_table('vulnerability_sightings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vulnerability_sightings_vulnerability_id'), ['vulnerability_id'], unique=False)

    op.create_table('vulnerability_state_transitions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vulnerability_id', sa.Integer(), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=True),
    sa.Column('to_state', sa.String(length=16), nullable=False),
    sa.Column('dismissal_reason', sa.String(length=32), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('author', sa.String(length=255), nullable=False),
    sa.Column('created_at', hullscan.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['vulnerability_id'], ['vulnerabilities.id'], name=op.f('fk_vulnerability_state_transitions_vulnerability_id_1f95cc5e'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vulnerability_state_transitions'))
    )
    with op.batch_alter_table('vulnerability_state_transitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vulnerability_state_transitions_vulnerability_id'), ['vulnerability_id'], unique=False)

    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('auto_resolve_no_longer_detected', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_column('auto_resolve_no_longer_detected')

    with op.batch_alter_table('vulnerability_state_transitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vulnerability_state_transitions_vulnerability_id'))

    op.drop_table('vulnerability_state_transitions')
    with op.batch_alter_table('vulnerability_sightings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vulnerability_sightings_vulnerability_id'))

    op.drop_table('vulnerability_sightings')
    with op.batch_alter_table('sbom_occurrences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sbom_occurrences_source_id'))
        batch_op.drop_index('ix_sbom_occurrences_match_key')
        batch_op.drop_index('ix_sbom_occurrences_alt_match_key')

    op.drop_table('sbom_occurrences')
    with op.batch_alter_table('vulnerabilities', schema=None) as batch_op:
        batch_op.drop_index('ix_vulnerabilities_project_report')
        batch_op.drop_index(batch_op.f('ix_vulnerabilities_primary_identifier'))
        batch_op.drop_index(batch_op.f('ix_vulnerabilities_package_name'))
        batch_op.drop_index(batch_op.f('ix_vulnerabilities_image'))
        batch_op.drop_index(batch_op.f('ix_vulnerabilities_detected_at'))

    op.drop_table('vulnerabilities')
    with op.batch_alter_table('sbom_sources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sbom_sources_project_id'))

    op.drop_table('sbom_sources')
    op.drop_table('ingestion_cursors')
