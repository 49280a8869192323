"""Benchmarks: time a model on each deployment backend, estimate the CPU's fp32 peak, and report
the results as a table, Markdown and JSON.
"""
