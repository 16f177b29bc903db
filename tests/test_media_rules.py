"""Which files X takes with one tweet (bridge/core/media.py), table-driven, and what the agent is told."""

from __future__ import annotations

import pytest

from bridge.core.media import MediaRefused, attachments

MB = 1024 * 1024


def slack_file(name: str, mimetype: str, size: int = 1000, **more: object) -> dict:
    return {"id": f"F{abs(hash(name)) % 10**9:09d}", "name": name, "mimetype": mimetype, "size": size,
            "url_private_download": f"https://files.slack.com/files-pri/T1-F1/download/{name}", **more}


@pytest.mark.parametrize(("files", "kinds"), [
    ([slack_file("a.jpg", "image/jpeg")], ["photo"]),
    ([slack_file(f"{i}.png", "image/png", 5 * MB) for i in range(4)], ["photo"] * 4),
    ([slack_file("a.webp", "image/webp")], ["photo"]),
    ([slack_file("a.gif", "image/gif", 15 * MB)], ["GIF"]),
    ([slack_file("a.mp4", "video/mp4", 512 * MB)], ["video"]),
])
def test_what_x_takes(files: list[dict], kinds: list[str]) -> None:
    assert [a.kind for a in attachments(files)] == kinds


@pytest.mark.parametrize(("files", "reason"), [
    ([], "without its file"),
    ([slack_file("a.pdf", "application/pdf", pretty_type="PDF")], "a.pdf is a PDF file"),
    ([slack_file("a.mov", "video/quicktime", filetype="mov")], "a.mov is a mov file"),
    ([slack_file("a.png", "image/png", 5 * MB + 1)], "a.png is 5.0 MB; X takes a photo of up to 5 MB"),
    ([slack_file("a.gif", "image/gif", 15 * MB + 1)], "X takes a GIF of up to 15 MB"),
    ([slack_file("a.mp4", "video/mp4", 512 * MB + 1)], "X takes a video of up to 512 MB"),
    ([slack_file(f"{i}.png", "image/png") for i in range(5)], "5 photos; a tweet takes at most 4"),
    ([slack_file("a.mp4", "video/mp4"), slack_file("b.png", "image/png")], "one video or GIF alone"),
    ([slack_file("a.gif", "image/gif"), slack_file("b.gif", "image/gif")], "2 videos or GIFs"),
    ([slack_file("doc", "image/png", mode="external")], "not a file stored in Slack"),
    ([{"id": "F1", "name": "x.png", "mimetype": "image/png", "size": 1}], "not a file stored in Slack"),
    ([{"id": "F1", "name": "x.png", "file_access": "check_file_info", "url_private": "https://files.slack.com/x"}],
     "did not say what kind of file x.png is"),
])
def test_what_x_does_not_take_is_refused_in_words(files: list[dict], reason: str) -> None:
    with pytest.raises(MediaRefused, match=reason):
        attachments(files)
