"""gib_kernels."""
