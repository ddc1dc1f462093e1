"""Measuring primitives shared by the application's services and the experiments: end-to-end latency
recorded in HdrHistogram (`latency`). Pure code, no broker, no file: it sits low so both can use it.
"""
