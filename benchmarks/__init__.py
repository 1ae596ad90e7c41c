"""Benchmarks of lightning-dln: head-to-head grids (``benchmarks.harness``), speed, anchors."""
