"""EnvRunners: the batched game runner (``BatchedGameEnvRunner``)."""
