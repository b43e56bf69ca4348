from .assets import national_export
from .schedules import monthly_export_schedule

__all__ = ["national_export", "monthly_export_schedule"]
