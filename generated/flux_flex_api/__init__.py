"""A client library for accessing FLUX.2 [FLEX] API"""

from .client import AuthenticatedClient, Client

__all__ = (
    "AuthenticatedClient",
    "Client",
)
