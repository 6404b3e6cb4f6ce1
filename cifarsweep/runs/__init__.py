"""One tracked training (an MLflow run around the trainer) and its figures: drawn, behind training, or deferred."""
