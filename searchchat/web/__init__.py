"""The web app: search page, JSON API and OpenAI-compatible endpoint (`create_app` in searchchat.web.app)."""
