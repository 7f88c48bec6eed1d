"""PyTorch definitions of the two networks the runtime runs as ONNX (see models/README.md)."""
