"""Files: reading and checking images, DICOM folders, safe output folders, metrics, the
segmentation file, the overview picture, the result folder and the DICOM objects for PACS.
"""
