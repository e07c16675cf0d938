"""Alembic revisions, one file each, named ``<rev>_<slug>.py`` (alembic skips this file)."""
