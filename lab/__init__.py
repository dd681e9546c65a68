"""The lab's machinery: the stack matrix, server processes, the comparison runner.

Kept apart from wsgi/ and asgi/ so the teaching apps stay free of harness code.
"""
