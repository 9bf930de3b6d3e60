"""The training reference, drift, serving monitoring and the retraining policy."""
