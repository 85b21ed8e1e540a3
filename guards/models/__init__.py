"""Shared encoder and small classifier heads for the toxicity, bias and injection scanners (loaded lazily)."""
