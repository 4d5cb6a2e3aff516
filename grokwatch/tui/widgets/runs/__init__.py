"""Dashboard widgets, one folder per screen region."""
