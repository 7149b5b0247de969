"""Large messages: attachments measured before decoding, memory bounded."""

import random
import tracemalloc

from lib.message_parser import parse_message
from lib.testing import make_message

MB = 1024 * 1024


def _big_message(attachment_size):
    """A text, a small PDF and a video of ``attachment_size`` bytes (base64)."""
    video = random.Random(57).randbytes(attachment_size)
    return make_message(
        "alice@acme.example.com",
        "me@ours.example.com",
        subject="The video",
        text="Here is the video of the demo.\n",
        attachments=[
            ("small.pdf", b"%PDF-1.4 " + b"a" * 100_000, "application/pdf"),
            ("demo.mp4", video, "video/mp4"),
        ],
    )


def test_an_attachment_over_the_cap_is_never_decoded():
    """A ~57 MB message with a 42 MB video and a 10 MB cap: the text and the PDF
    are kept, the video is listed with its exact size, and parsing it grows the
    process by less than the message's own size (it was 5.5 times: 317 MB)."""
    raw = _big_message(42 * MB)
    assert len(raw) > 55 * MB
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        parsed = parse_message(raw, 10 * MB)
        growth = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert parsed.body_html == "<p>Here is the video of the demo.</p>"
    assert [name for name, _c, _t in parsed.attachments] == ["small.pdf"]
    assert parsed.omitted_attachments == [("demo.mp4", 42 * MB)]
    assert growth < len(raw), f"{growth / MB:.1f} MB for {len(raw) / MB:.1f} MB"
