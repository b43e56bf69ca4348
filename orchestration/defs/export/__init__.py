from .assets import national_export
from .schedules import monthly_export_schedule

__all__ = ["monthly_export_schedule", "national_export"]
