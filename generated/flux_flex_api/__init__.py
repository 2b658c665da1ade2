"""A client library for accessing FLUX.2 [FLEX] API"""

from .client import AuthenticatedClient, Client

SPEC_VERSION = "2.0.0"
"""`info.version` of the OpenAPI document (spec/flux2-flex.openapi.yaml) this package was generated from."""


def __getattr__(name: str) -> str:
    # Read when asked: importlib.metadata is slow to import, and the generator does not
    # hand the templates the document's `x-` extensions, so the revision comes from the
    # copy of the document shipped in this package.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("flux-flex")
        except PackageNotFoundError:
            return "0+unknown"
    if name == "VENDOR_REVISION":
        import json
        from importlib.resources import files

        document = json.loads(
            files(__name__).joinpath("openapi.json").read_text("utf-8")
        )
        return str(document["info"]["x-vendor-revision"])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = (
    "SPEC_VERSION",
    "VENDOR_REVISION",
    "AuthenticatedClient",
    "Client",
)
