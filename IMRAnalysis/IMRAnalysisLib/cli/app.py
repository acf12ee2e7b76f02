"""``imr-analysis app``: the web workstation, served for a browser."""

from __future__ import annotations

import argparse

from ..errors import InputError
from ..perfusion.timepoint_map import DSC_MAPS
from .perfusion import add_timing_options


def configure(app: argparse.ArgumentParser) -> None:
    patient = app.add_mutually_exclusive_group()
    patient.add_argument("--demo", action="store_true", help="open on the phantom patient of 'imr-analysis demo'")
    patient.add_argument("--patient", help="patient folder (post.*, day5.*, lesion.*, optional arrival.*, "
                                           "exclusion.*; post_dsc.* ... for DSC series)")
    app.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    app.add_argument("--port", type=int, default=8080, help="port to listen on (default %(default)s)")
    app.add_argument("--map", choices=tuple(DSC_MAPS), default="rcbv",
                     help="map measured, also on the page before opening (default %(default)s)")
    add_timing_options(app)
    app.add_argument("--max-upload-mb", type=float, default=1000.0,
                     help="largest total of the files uploaded from the page, in MB; it also bounds every websocket "
                          "message (default %(default)g)")


def command_app(args: argparse.Namespace) -> int:
    """The web workstation; imported here so that the other commands never need trame."""
    try:
        from ..webapp.app import serve
    except ImportError as error:
        needed = "the web workstation needs the 'web' extra: pip install 'imr-analysis[web]'"
        raise InputError(f"{needed} ({error})") from error
    serve(args.patient, args.demo, args.host, args.port, args.map, args.te, args.tr, args.max_upload_mb)
    return 0
