"""The application: the ``rllib-ext`` CLI, run folders, the training loop with stop and resume, the demo."""
