"""Benchmarks of the bridge against the emulators: the fault soak (``python -m bench.soak``)."""
