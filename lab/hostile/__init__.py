"""Hostile requests, one TOML case per file, and the engine (engine.py) that sends them to every stack."""
