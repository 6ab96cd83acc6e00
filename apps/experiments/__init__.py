"""Experiment apps reproducing the notes' figures; run ``python -m apps.experiments.<name>``."""
