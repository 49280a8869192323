"""Prediction: classify image files and folders in batches, and write the results (JSON or CSV)
as they finish, so that an interrupt never loses finished work.
"""
