from .assets import RAW_TABLES, feed_freshness, raw_feed_assets
from .sensors import http_pull_schedule, landing_sensor

__all__ = ["raw_feed_assets", "RAW_TABLES", "feed_freshness", "landing_sensor", "http_pull_schedule"]
