"""The codec users call: file format, Python API, CLI, metrics, evaluation.

Not built yet: see the open codec issue.
"""
