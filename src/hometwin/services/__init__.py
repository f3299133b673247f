"""What components share above the domain: the exactly-once notification outbox, the rendering of
messages, the alert store and training."""
