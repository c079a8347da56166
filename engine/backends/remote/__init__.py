"""The ``remote`` backend: answers come from any OpenAI-compatible ``/v1/chat/completions`` server."""
