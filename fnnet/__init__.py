"""fnnet: functional deep learning on JAX."""
__version__ = "0.1.0"
