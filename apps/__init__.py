"""The command-line apps (``python apps/<name>.py`` or ``python -m apps.<name>``).

Each app is one file describing its data, net and metrics; what they share
(flags, the run from parsing to the JSON result line, saving and loading,
output) lives in ``apps/support``. Run from a clone, an app started as a
script puts the clone's root on ``sys.path`` itself, so nothing needs
installing.
"""
