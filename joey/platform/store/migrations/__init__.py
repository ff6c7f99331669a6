"""Alembic environment of the store; run by ``Store`` on open, never by hand."""
