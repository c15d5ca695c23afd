"""Answering: rewrite, evidence, the answerability model and policy, the prompt, citation checks, the pipeline."""
