"""Training and ONNX export for the person U-Net and the style networks (needs the `train` extra)."""
