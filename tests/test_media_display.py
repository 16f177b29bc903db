"""Customer media in Slack: photos as images, videos and GIFs as their preview and a link to X.

Each test tweets through the X emulator (with media as X's ``includes.media`` carries it) and looks
at what the Slack emulator shows: the case's parent and the follow-ups in its thread.
"""

from __future__ import annotations

from tests.harness import Desk, block_text

PHOTO = "https://pbs.twimg.com/media/router.jpg"
THUMB = "https://pbs.twimg.com/ext_tw_video_thumb/1/pu/img/thumb.jpg"
GIF_THUMB = "https://pbs.twimg.com/tweet_video_thumb/blink.jpg"


def images(message: dict) -> list[tuple[str, str]]:
    """(image_url, alt_text) of every image block, in order (the avatar is an accessory, not a block)."""
    return [(b["image_url"], b["alt_text"]) for b in message.get("blocks") or [] if b["type"] == "image"]


def link(tweet_id: str, author: str = "kunde_klaus") -> str:
    return f"https://x.com/{author}/status/{tweet_id}"


def test_a_photo_shows_as_an_image_with_its_alt_text(desk: Desk) -> None:
    tweet_id = desk.tweet("@Telekom_hilft this light is red", media=[("photo", PHOTO, "Router, red DSL light")])
    parent = desk.parent_of(tweet_id)
    assert images(parent) == [(PHOTO, "Router, red DSL light")]


def test_a_photo_without_alt_text_still_says_what_it_is(desk: Desk) -> None:
    parent = desk.parent_of(desk.tweet("@Telekom_hilft look", media=[("photo", PHOTO)]))
    assert images(parent) == [(PHOTO, "Photo attached to the post")]


def test_a_video_shows_its_preview_and_a_link_to_play_it_on_x(desk: Desk) -> None:
    tweet_id = desk.tweet("@Telekom_hilft the router reboots, see", media=[("video", THUMB)])
    parent = desk.parent_of(tweet_id)
    [(url, alt)] = images(parent)
    assert url == THUMB and "video" in alt
    assert f"<{link(tweet_id)}|video on X>" in block_text(parent["blocks"])


def test_a_gif_shows_its_preview_and_a_link_to_x(desk: Desk) -> None:
    tweet_id = desk.tweet("@Telekom_hilft it blinks like this", media=[("animated_gif", GIF_THUMB)])
    parent = desk.parent_of(tweet_id)
    [(url, alt)] = images(parent)
    assert url == GIF_THUMB and "GIF" in alt
    assert f"<{link(tweet_id)}|GIF on X>" in block_text(parent["blocks"])


def test_four_photos_show_as_four_images_in_order(desk: Desk) -> None:
    urls = [f"https://pbs.twimg.com/media/p{i}.jpg" for i in range(4)]
    parent = desk.parent_of(desk.tweet("@Telekom_hilft all four lights", media=[("photo", u) for u in urls]))
    assert [url for url, _ in images(parent)] == urls
    assert "on X>" not in block_text(parent["blocks"]).replace("View on X>", "")  # nothing left to click for


def test_a_follow_up_with_a_photo_and_one_with_a_video_show_in_the_thread(desk: Desk) -> None:
    first = desk.tweet("@Telekom_hilft my router is dead")
    parent = desk.parent_of(first)
    photo = desk.tweet("@Telekom_hilft here is a photo", in_reply_to=first, media=[("photo", PHOTO, "the back")])
    video = desk.tweet("@Telekom_hilft and a video", in_reply_to=photo, media=[("video", THUMB)])
    desk.wait_for(lambda: len([m for m in desk.thread(parent) if m.get("blocks")]) >= 2)
    by_tweet = {m["metadata"]["event_payload"]["tweet_id"]: m for m in desk.thread(parent)}
    assert images(by_tweet[photo]) == [(PHOTO, "the back")]
    assert [url for url, _ in images(by_tweet[video])] == [THUMB]
    assert f"<{link(video)}|video on X>" in block_text(by_tweet[video]["blocks"])


def test_when_slack_refuses_the_images_the_case_is_posted_without_them(desk: Desk) -> None:
    # Slack refuses a whole message when it cannot fetch one of its images.
    desk.slack.fail_next("chat.postMessage", status=200, error="invalid_blocks")
    tweet_id = desk.tweet("@Telekom_hilft see photo", media=[("photo", PHOTO)])
    parent = desk.parent_of(tweet_id)
    assert images(parent) == []
    assert "1 more photo on X" in block_text(parent["blocks"])
