"""Third-party pretrained weights, converted once to safetensors (no pickle at run time)."""
