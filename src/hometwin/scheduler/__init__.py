"""The durable event scheduler (successor of the course's sif_edge); see docs/scheduler.md.

core (joins, pure) + ledger (what a command changes) -> state (the port: SchedulerState,
open_state) with sqlite_state / memory_state + writer (group commit) -> dispatch/transport
(delivery) -> app (`create_app(settings)`, the HTTP API).
"""
