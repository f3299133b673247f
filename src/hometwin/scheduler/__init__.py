"""The durable event scheduler (successor of the course's sif_edge); see docs/scheduler.md.

core (joins, pure) -> store (SQLite state) + writer (group commit) -> dispatch/transport (delivery)
-> app (`create_app(settings)`, the HTTP API).
"""
