"""The MRML layer: the analysis on a Slicer scene (slicer-core), the scene passed in explicitly.
"""
