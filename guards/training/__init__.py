"""Training pipeline of the classifier heads: ``python -m guards.training`` (seeded, reproducible)."""
