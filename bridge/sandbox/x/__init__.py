"""The X API v2 emulator: the endpoints the bridge uses, in X's wire format."""
