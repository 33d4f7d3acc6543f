"""Live service metrics for operators: instances report cumulative counters and
histograms (``ReportMetrics``, client streaming); watchers get per-service rates,
error rates, latency quantiles, active streams and breaker states at the interval
they choose (``WatchMetrics``), conflated so a slow watcher sees the latest
snapshot, never a backlog. Aggregation is pure (``window.py``) with an injected clock.
"""
