"""streamlab: a predictive-maintenance streaming pipeline, measured on live brokers.

Layers, lowest first (each imports only from its own layer or below; see README "Layout"):
`errors`/`paths`/`polling` → `measure` → `domain` → `codecs` → `transport` → `stack` →
`pipeline`/`services` → `bench` → `experiments` → `plots` → `book` → `cli`.
"""
__version__ = "0.1.0"
