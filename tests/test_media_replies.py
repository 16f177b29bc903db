"""Files an agent attaches to a thread reply: uploaded to X and attached to the reply tweet, once.

The claimer shares files in the case's thread through the Slack emulator (a ``file_share`` message
whose files the emulator serves to the bot token); the X emulator takes the upload and shows the tweet
with its media. What X does not take is refused before anything is queued.
"""

from __future__ import annotations

import struct

import pytest

from tests.harness import ANNA, BASE_SETTINGS, BEN, Desk, claimed_case, drained, notices

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2048
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 2048
GIF = b"GIF89a" + b"\x00" * 2048
MP4 = struct.pack(">I", 24) + b"ftypmp42" + b"\x00" * 4096
SENT = "outbox_tray"


def share(desk: Desk, parent: dict, text: str, *files: tuple[str, bytes], user: str = ANNA, **kw) -> str:
    return desk.slack.share_files(user, parent["channel"], text, list(files), thread_ts=parent["ts"], **kw)


def media_requests(desk: Desk) -> list:
    return [r for r in desk.x.requests if r.path.startswith("/2/media/upload")]


def sent(desk: Desk, parent: dict, ts: str) -> None:
    desk.wait_for(lambda: {SENT, "x"} & set(desk.slack.reactions(parent["channel"], ts)))
    drained(desk)
    assert "x" not in desk.slack.reactions(parent["channel"], ts), notices(desk, parent, "Not tweeted")


def attached(desk: Desk, media_id: str) -> str:
    """What X made of an upload: photo, video or animated_gif."""
    return {"tweet_image": "photo", "tweet_video": "video", "tweet_gif": "animated_gif"}[
        desk.x.media.uploads[media_id].category]


def test_a_png_the_claimer_attaches_is_uploaded_and_tweeted_with_the_reply(desk: Desk) -> None:
    tweet_id, parent = claimed_case(desk)
    ts = share(desk, parent, "This is the light to look for.", ("router.png", PNG))
    sent(desk, parent, ts)
    [posted] = desk.x.posted
    assert posted["text"] == "This is the light to look for. ^AN" and posted["in_reply_to_tweet_id"] == tweet_id
    [media_id] = posted["media_ids"]
    assert attached(desk, media_id) == "photo"
    assert len(desk.slack.downloads) == 1  # fetched from Slack with the bot token
    assert [r.path for r in media_requests(desk)] == ["/2/media/upload"]
    assert len(notices(desk, parent, "Tweeted as")) == 1


def test_a_file_with_no_text_goes_out_with_the_signature(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    ts = share(desk, parent, "", ("a.jpg", JPEG), ("b.jpg", JPEG))
    sent(desk, parent, ts)
    [posted] = desk.x.posted
    assert posted["text"] == "^AN" and len(posted["media_ids"]) == 2


@pytest.mark.parametrize(("name", "data", "kind", "append_204"), [
    ("howto.mp4", MP4, "video", False), ("blink.gif", GIF, "animated_gif", False),
    ("howto.mp4", MP4, "video", True),  # APPEND answered as X does: 204, no body
], ids=["video", "gif", "video, append answers 204"])
def test_a_video_or_gif_goes_up_in_chunks_and_is_tweeted_once_x_processed_it(desk: Desk, name: str, data: bytes,
                                                                              kind: str, append_204: bool) -> None:
    desk.x.media.check_after_secs = 0
    desk.x.media.append_answers_204 = append_204
    _, parent = claimed_case(desk)
    ts = share(desk, parent, "Watch this, please.", (name, data))
    sent(desk, parent, ts)
    [posted] = desk.x.posted
    [media_id] = posted["media_ids"]
    assert attached(desk, media_id) == kind
    paths = [r.path.replace(media_id, "ID") for r in media_requests(desk)]
    assert paths == ["/2/media/upload/initialize", "/2/media/upload/ID/append", "/2/media/upload/ID/finalize",
                     "/2/media/upload"]  # the last: STATUS, until X says succeeded


def test_media_go_on_the_first_part_of_a_split_reply(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    words = "Please restart the router, wait two minutes, then check the DSL light. " * 5
    ts = share(desk, parent, words.strip(), ("light.png", PNG))
    sent(desk, parent, ts)
    first, second = desk.x.posted
    assert first["text"].endswith("1/2 ^AN") and len(first["media_ids"]) == 1 and second["media_ids"] == []


@pytest.mark.parametrize(("files", "said"), [
    ([("contract.pdf", b"%PDF-1.7\n")], "contract.pdf is a PDF file"),
    ([("huge.png", PNG + b"\x00" * (5 * 1024 * 1024))], "huge.png is 5.0 MB; X takes a photo of up to 5 MB"),
    ([(f"p{i}.png", PNG) for i in range(5)], "you attached 5 photos; a tweet takes at most 4"),
    ([("howto.mp4", MP4), ("light.png", PNG)], "a tweet takes one video or GIF alone"),
])
def test_files_x_does_not_take_are_refused_with_the_reason_and_nothing_is_tweeted(
        desk: Desk, files: list[tuple[str, bytes]], said: str) -> None:
    _, parent = claimed_case(desk)
    ts = share(desk, parent, "Here you go", *files)
    desk.wait_for(lambda: "x" in desk.slack.reactions(parent["channel"], ts))
    drained(desk)
    [told] = [e for e in desk.slack.ephemerals if e["user"] == ANNA]
    assert told["text"].startswith("Not tweeted:") and said in told["text"]
    assert desk.x.posted == [] and media_requests(desk) == [] and desk.slack.downloads == []


def test_files_from_someone_not_holding_the_case_or_in_a_note_are_not_tweeted(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    share(desk, parent, "our internal diagram", ("diagram.png", PNG), user=BEN)
    share(desk, parent, "note: the customer's contract", ("contract.png", PNG))
    ts = desk.reply(ANNA, parent, "We're on it.")
    sent(desk, parent, ts)
    assert [p["media_ids"] for p in desk.x.posted] == [[]] and desk.slack.downloads == []


def test_a_lost_answer_to_the_tweet_neither_tweets_twice_nor_uploads_twice(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    desk.x.truncated_next("POST", r"^/2/tweets$")  # X created the tweet (with its media), half the answer arrives
    ts = share(desk, parent, "Like this.", ("light.png", PNG))
    desk.x.wait_for_posts(1)
    desk.hurry("x")
    sent(desk, parent, ts)
    [posted] = desk.x.posted
    assert posted["text"] == "Like this. ^AN" and len(posted["media_ids"]) == 1
    assert len([r for r in desk.x.requests if r.method == "POST" and r.path == "/2/tweets"]) == 1
    assert len(media_requests(desk)) == 1 and len(desk.slack.downloads) == 1
    link = f"https://x.com/Telekom_hilft/status/{posted['id']}"
    assert len(notices(desk, parent, link)) == 1


def test_a_failed_tweet_retried_attaches_the_media_id_it_already_has(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    desk.x.server_error_next("POST", r"^/2/tweets$", status=503)
    ts = share(desk, parent, "", ("light.png", PNG))
    desk.x.wait_for(lambda: any(r.status == 503 for r in desk.x.requests))
    desk.hurry("x")
    sent(desk, parent, ts)
    [posted] = desk.x.posted
    assert len(posted["media_ids"]) == 1 and len(media_requests(desk)) == 1


def test_a_file_deleted_from_slack_before_it_was_sent_fails_with_the_reason(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    desk.x.server_error_next("POST", r"^/2/media/upload$", status=503)  # the first try fails on X's side
    ts = share(desk, parent, "see attached", ("light.png", PNG))
    desk.x.wait_for(lambda: any(r.status == 503 for r in desk.x.requests))
    [file] = desk.slack.message(parent["channel"], ts)["files"]
    desk.slack.delete_file(file["id"])  # then the agent deletes the file in Slack
    desk.hurry("x")
    desk.wait_for(lambda: "x" in desk.slack.reactions(parent["channel"], ts))
    drained(desk)
    [why] = notices(desk, parent, "Not tweeted")
    assert "light.png is no longer in Slack" in why and desk.x.posted == []


def test_in_a_dry_run_nothing_is_fetched_or_uploaded(make_desk) -> None:
    desk = make_desk(text=BASE_SETTINGS.replace("min_poll_interval = 0.2", "min_poll_interval = 0.2\ndry_run = true"))
    _, parent = claimed_case(desk)
    ts = share(desk, parent, "Like this.", ("light.png", PNG))
    desk.wait_for(lambda: {SENT, "x"} & set(desk.slack.reactions(parent["channel"], ts)))
    drained(desk)
    assert media_requests(desk) == [] and desk.slack.downloads == [] and desk.x.posted == []
    [notice] = notices(desk, parent, "Dry run")
    assert "Like this. ^AN" in notice and "With light.png attached." in notice


def test_the_bot_token_is_never_sent_to_a_file_url_outside_slack(desk: Desk) -> None:
    _, parent = claimed_case(desk)
    elsewhere = {"id": "F0ELSEWHERE", "name": "x.png", "mimetype": "image/png", "size": 100, "mode": "hosted",
                 "url_private_download": "http://127.0.0.1:9/files-pri/T1-F0ELSEWHERE/download/x.png"}
    desk.slack.post_user_message(ANNA, parent["channel"], "look", thread_ts=parent["ts"], subtype="file_share",
                                 files=[elsewhere])
    desk.wait_for(lambda: notices(desk, parent, "Not tweeted"))
    drained(desk)
    [why] = notices(desk, parent, "Not tweeted")
    assert "x.png is not stored in Slack" in why and desk.x.posted == [] and media_requests(desk) == []
