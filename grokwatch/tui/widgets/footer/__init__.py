"""The bottom line: the keys of the screen."""
