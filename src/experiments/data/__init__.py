"""Data: sources read files into uint8 tensors; the datamodule splits, batches and augments them."""
