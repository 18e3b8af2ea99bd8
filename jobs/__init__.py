"""Cutroom's processing engine: plain functions over media files, usable without Flask or Redis."""
