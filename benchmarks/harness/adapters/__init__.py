"""Model adapters of the harness: each exposes ``fit(spec, task, seed, budget, work_dir)``."""
