from .assets import RAW_TABLES, feed_freshness, raw_feed_assets
from .sensors import http_pull_schedule, landing_sensor

__all__ = ["RAW_TABLES", "feed_freshness", "http_pull_schedule", "landing_sensor", "raw_feed_assets"]
