"""A client library for accessing FLUX.2 [FLEX] API"""

from .client import AuthenticatedClient, Client

SPEC_VERSION = "2.0.0"
"""`info.version` of the OpenAPI document (spec/flux2-flex.openapi.yaml) this package was generated from."""


def __getattr__(name: str) -> str:
    # The distribution's version, read when asked (importlib.metadata is slow to import).
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("flux-flex")
        except PackageNotFoundError:
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = (
    "SPEC_VERSION",
    "AuthenticatedClient",
    "Client",
)
