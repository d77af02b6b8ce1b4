"""The PySide6 desktop demo. Qt only: the model lives in gun/, owned by app.worker's thread."""
