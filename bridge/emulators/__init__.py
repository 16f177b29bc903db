"""Local emulators of the platforms the bridge talks to, for tests and `python -m bridge sandbox`."""
