"""The `newsmt` command line: serve, smoke, translate, summarize, models."""
