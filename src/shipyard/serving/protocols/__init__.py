"""Wire formats beyond the native one: the Open Inference Protocol (v2)."""
