"""The end-to-end demo on the sample city (`python -m engine demo`, `make demo`)."""
