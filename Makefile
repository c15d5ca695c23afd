.PHONY: demo test lint
demo:
	bash scripts/demo.sh
test:
	bash scripts/test.sh
lint:
	. .venv/bin/activate && ruff check . && ruff format --check . && mypy searchchat indexer && lint-imports
