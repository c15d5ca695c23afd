"""searchchat: self-hosted, chat-augmented search with verified citations."""

import os

# Idle OpenMP threads sleep instead of spinning. Spinning made torch and llama.cpp generation 7-8x slower on a
# busy 2-core machine (bench/generation_speed.py). Must be set before torch or xllamacpp is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
