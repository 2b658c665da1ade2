"""Offline testing support for flux-flex users: a fake of the API (lands with its issue)."""
