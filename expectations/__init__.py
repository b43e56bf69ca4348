"""Great Expectations (1.x) suites as code for raw, staging and marts, and their runner.
No Dagster import: orchestration/ wraps these as asset checks."""

from .runner import CheckResult, QualityReport, run_quality_gate
from .thresholds import Thresholds, load_thresholds

__all__ = ["CheckResult", "QualityReport", "Thresholds", "load_thresholds", "run_quality_gate"]
