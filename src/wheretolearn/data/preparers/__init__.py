"""Dataset preparers: each turns a dataset's verified raw files into prepared split files."""
