from .assets import monthly_dashboards

__all__ = ["monthly_dashboards"]
