"""Partitions: months for exports and dashboards (a month is its first day, Asia/Shanghai)."""

import dagster as dg

monthly_partitions = dg.MonthlyPartitionsDefinition(start_date="2012-01-01", timezone="Asia/Shanghai")
