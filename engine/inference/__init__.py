"""Inference: the Enhancer interface, its backends (PyTorch, ONNX Runtime, OpenVINO), tiling, folders."""
