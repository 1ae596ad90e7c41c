"""Model adapters of the harness: each module exposes ``fit(spec, task, seed, budget, work_dir)``."""
