"""Evaluation of the guard: classifier-head metrics on labelled data."""
