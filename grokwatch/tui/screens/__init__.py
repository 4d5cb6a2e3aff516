"""Screens: start, dashboard, and the modal help and confirm screens."""
