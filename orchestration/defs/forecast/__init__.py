from .assets import forecasts

__all__ = ["forecasts"]
