"""Dashboards: pages (queries + charts) rendered to self-contained HTML. No Dagster import."""

from .render import render_month

__all__ = ["render_month"]
