"""streamlab.book."""
