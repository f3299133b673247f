"""The pure core of HomeTwin.

Nothing in this package performs I/O, reads the clock, touches the network or uses asyncio:
every function receives `now` and its data as arguments. `tests/unit/test_layers.py` enforces it.
"""
