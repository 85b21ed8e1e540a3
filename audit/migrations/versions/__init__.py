"""Revision scripts of the audit schema, oldest first."""
