"""Model backends behind one small protocol (``engine.backends.base``)."""
