"""The X emulator against X's own contract (tests/reference): answers, refusals, DMs, media."""
