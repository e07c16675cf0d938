"""Alembic migrations of Recoup's SQL schema (see README.md here, and ``adapters.schema``)."""
