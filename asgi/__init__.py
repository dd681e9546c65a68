"""ASGI: one coroutine per connection; awaiting I/O frees the event loop."""
