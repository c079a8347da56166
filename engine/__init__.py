"""The async engine: session, audio front end, turn taking and model backends."""
