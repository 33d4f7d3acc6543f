"""The echo service: the mesh's probe for benchmarks, smoke tests and fault injection."""
