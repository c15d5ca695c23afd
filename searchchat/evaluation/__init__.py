"""Evaluation: BEIR retrieval runs, QA sets, answer evaluation and its metrics and report."""
