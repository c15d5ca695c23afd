"""Training the models that searchchat ships (the learned answerability model)."""
