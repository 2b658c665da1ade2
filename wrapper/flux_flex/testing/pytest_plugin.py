"""pytest plugin registered by the flux-flex distribution (fixtures land with the fake)."""
