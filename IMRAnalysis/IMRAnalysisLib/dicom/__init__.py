"""Results as DICOM objects for PACS (``dicom/`` of a result folder), built with highdicom.

A package of its own because highdicom needs pydicom 3, newer than the pydicom 2.4 that
Slicer 5.10 bundles: the Slicer module never installs it with the library's requirements,
and nothing outside this package imports highdicom.
"""
