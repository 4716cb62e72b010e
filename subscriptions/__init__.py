"""Real-time delivery: broadcaster backends, channels, relay, live streams, presence."""
