"""CUDA sources of spikelut's GPU engine, shipped inside the package as ``spikelut.kernels``."""
