"""Adapters: convert an enterprise's existing export format into feed contract v1 files."""
