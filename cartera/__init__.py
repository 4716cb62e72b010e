"""Cartera's composition root: settings, the Starlette app and its lifespan, the CLI."""
