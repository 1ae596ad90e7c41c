"""lightning-dln: deep linear networks as first-class forecasting models."""

__version__ = "0.1.0"
