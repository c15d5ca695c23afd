"""searchchat: self-hosted, chat-augmented search with verified citations."""

__version__ = "0.1.0"
