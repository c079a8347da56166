"""Offline evaluation that replays media through the live engine."""
