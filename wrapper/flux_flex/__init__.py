"""flux-flex: the client for the FLUX.2 [FLEX] image API."""
