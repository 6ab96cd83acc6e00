"""Experiment apps reproducing the notes' figures: ``python apps/experiments/<name>.py`` or
``python -m apps.experiments.<name>``; ``common`` is what they share."""
