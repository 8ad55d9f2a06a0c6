"""Tests of ferry.asgi: small inline ASGI apps through the TestClient, or parsers fed bytes."""
