"""Prometheus metrics: counters where the work happens, database gauges at scrape time."""
