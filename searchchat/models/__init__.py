"""The models trained here and shipped in the package: their weights folders and the code that loads them."""
