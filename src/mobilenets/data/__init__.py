"""Images in: reading and checking image files, image-folder datasets and loaders, the built-in
handwritten digits, and batch augmentation on the training device.
"""
