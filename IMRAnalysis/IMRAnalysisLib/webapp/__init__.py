"""The IMR workstation in a web browser, on trame-slicer (Slicer's views and segment editor).

``workstation`` holds the scene and the MRML logic, ``ui`` the page, ``app`` the trame
application that joins them, ``access`` and ``message_limits`` what the server admits;
only ``imr-analysis app`` imports this package, so the library and the Slicer module
never need trame.
"""
