"""The one application every backend runs: the no-op task and the latency probe."""
