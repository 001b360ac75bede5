"""rnncli: train and run recurrent sequence models from the shell."""

__version__ = "0.1.0"
