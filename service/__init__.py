"""Use cases: what api/, cli/ and the workers ask of Recoup, one function per operation."""
