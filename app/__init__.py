"""User-facing entry points: the command line (and later the web, websocket and MQTT interfaces)."""
