"""A local RTSP server for the reconnect tests (gst-rtsp-server through PyGObject; Debian
packages gir1.2-gst-rtsp-server-1.0 and python3-gi, run with /usr/bin/python3).

Serves VIDEO (any file decodebin reads) as H.264 at rtsp://127.0.0.1:PORT/cam, scaled to
WIDTHxHEIGHT, in real time, looping is not needed for the test's length. Prints "ready" once
listening.

usage: rtsp_server.py PORT VIDEO [WIDTH HEIGHT]
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

port, video = sys.argv[1], sys.argv[2]
width, height = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else ("320", "240")
Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    f'( filesrc location="{video}" ! decodebin ! videoconvert ! videoscale ! '
    f"video/x-raw,width={width},height={height} ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 ! "
    "rtph264pay name=pay0 pt=96 config-interval=1 )"
)
factory.set_shared(True)
server.get_mount_points().add_factory("/cam", factory)
if server.attach(None) == 0:
    sys.exit(f"cannot listen on 127.0.0.1:{port}")
print("ready", flush=True)
GLib.MainLoop().run()
