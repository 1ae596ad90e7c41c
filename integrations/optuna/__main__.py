"""``python -m lightning_dln.integrations.optuna ...``: the same as ``lightning-dln tune ...``.

Starts faster (it does not import the core CLI and Lightning unless the model needs them),
which is what the worker tests use.
"""

from .cli import main

main()
