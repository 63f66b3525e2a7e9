"""Domain types shared by every layer: languages, request context, errors."""
