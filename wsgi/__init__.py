"""WSGI (PEP 3333): one synchronous callable per request."""
