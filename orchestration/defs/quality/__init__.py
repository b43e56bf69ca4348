from .checks import quality_checks

__all__ = ["quality_checks"]
