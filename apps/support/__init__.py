"""What every app shares: flags, the run skeleton, output, weights and targets.

- ``flags``: one parser factory, the same flag names and defaults everywhere
  (``add_*_flags`` for apps of another shape);
- ``skeleton``: ``App`` (what an app describes) and ``run_app`` (parse -> data ->
  train or load -> evaluate -> plots -> JSON line); ``run_guarded`` (one-line
  errors, exit codes 0 / 1 / 2 / 130) for any app's main;
- ``training``: hyper-parameters from flags, the memory check, the training call;
- ``weights``: saving and loading a net together with its data options;
- ``targets``: output paths checked before any work starts (and never replaced without
  ``--overwrite``);
- ``data``: the textbook's own data files, found or named in the error;
- ``output``: the log (``--verbose``) and the JSON result line;
- ``image_classifier``: the MLP/CNN image app behind mnist_classify and cifar_classify;
- ``plots``: the apps' own figures (confusion matrix, fitted curve, decision boundary) and
  ``plot_path``, the run-named file names;
- ``sweeps``: what the sweep apps (compare and the experiments) share;
- ``axes``: ``compare --axis KEY=V1,V2`` with the flags' own names.

These modules are not apps: run ``python apps/<app>.py --help`` for an app's flags.
"""
