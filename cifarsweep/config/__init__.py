"""The training config and where it comes from: the one ``TrainConfig``, YAML files, ``--set`` overrides, model references."""
