"""Host-library adapters, installed as ``lightning_dln.integrations``.

Each subpackage wraps the core :class:`lightning_dln.models.DeepLinearTimeSeries` unchanged and
imports its host library lazily, with an install hint when it is missing.
"""
