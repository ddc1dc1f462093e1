"""streamlab: a predictive-maintenance streaming pipeline, measured on live brokers."""
__version__ = "0.1.0"
