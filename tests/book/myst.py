"""The jupytext header of a MyST Markdown notebook, for the small books the book tests write and run."""

HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: '0.13'
kernelspec:
  display_name: Python 3 (ipykernel)
  language: python
  name: python3
---
"""
