"""Experiment apps reproducing the notes' figures: ``python apps/experiments/<name>.py`` or
``python -m apps.experiments.<name>``; what they share is ``apps.support.sweeps``."""
