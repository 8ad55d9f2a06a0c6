"""ferry.asgi: arrives with its own issue; the distribution is installable from day one."""

__version__ = "0.1.0"

__all__ = ["__version__"]
