"""Runs: the machinery every stage stands on.

Profiles (one YAML recipe per scale), run folders that are never reused by accident, the
manifest, the papermill runner behind ``fipo run`` / ``fipo reproduce``, project and cache
paths, and writing outputs without losing earlier ones. No notebook of its own: it drives
them all. Reads ``configs/profiles/``; writes ``runs/<time>-<label>/manifest.json`` and
``notebooks/``. Imports no stage package.
"""
