"""The rating page on a portrait tablet and on a landscape desktop.

On a portrait tablet (820×1180, an iPad Air held upright) the media pane sits above
the rubric. The image stage takes the image's shape, so a landscape image does not
leave a tall empty band that pushes the rubric a screen down; on a landscape
desktop the image and the form stay side by side as before.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from apps.generation.sanitize import sanitize_image
from tests.browser.item_page import browser_session, item_page_build

LANDSCAPE = (1536, 1024)  # 3:2, a common size for image models
MARGIN_PX = 4

BOXES = """() => {
  const box = (selector) => {
    const r = document.querySelector(selector).getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top + scrollY, bottom: r.bottom + scrollY,
            height: r.height};
  };
  return {stage: box(".image-viewer .stage"), image: box(".image-viewer img"),
          media: box("#media"), form: box("form#judgment"),
          dimension: box("fieldset.dimension"), bar: box(".action-bar"),
          screen: innerHeight, scrolled: scrollY};
}"""


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_X_ACCEL_PREFIX = ""
    return settings.MEDIA_ROOT


@pytest.fixture
def landscape_item(media_root):
    picture = Image.linear_gradient("L").resize(LANDSCAPE).convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return item_page_build(media=sanitize_image(buffer.getvalue()))


def _layout(chromium, base: str, item, viewport: tuple[int, int]) -> dict:
    width, height = viewport
    context = chromium.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    browser_session(context, base, item.expert)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(base + item.path)
    page.wait_for_function(
        "() => document.querySelector('.image-viewer img').complete"
        " && document.querySelector('.image-viewer').dataset.fit === 'true'"
    )
    page.wait_for_timeout(200)  # the viewer refits when the stage settles
    boxes = page.evaluate(BOXES)
    context.close()
    return boxes


def test_on_a_portrait_tablet_the_stage_fits_a_landscape_image_and_the_rubric_is_in_view(
    chromium, live_server, landscape_item
):
    # when the item is opened on a portrait tablet
    boxes = _layout(chromium, live_server.url, landscape_item, (820, 1180))
    # then the media sit above the form (one column)
    assert boxes["form"]["top"] >= boxes["media"]["bottom"]
    # and the stage is no taller than the image it shows
    assert boxes["image"]["height"] > 300
    assert boxes["stage"]["height"] <= boxes["image"]["height"] + MARGIN_PX
    # and the first rubric dimension is on the first screen, above the action bar
    assert boxes["scrolled"] == 0
    assert boxes["dimension"]["bottom"] <= boxes["bar"]["top"] <= boxes["screen"]


def test_on_a_landscape_desktop_the_image_and_the_form_stay_side_by_side(
    chromium, live_server, landscape_item
):
    boxes = _layout(chromium, live_server.url, landscape_item, (1440, 900))
    # the form to the right of the media, both starting at the top of the layout
    assert boxes["form"]["left"] >= boxes["media"]["right"]
    assert abs(boxes["form"]["top"] - boxes["media"]["top"]) <= MARGIN_PX
    # the image fitted to the stage's full width, as before, the first dimension in view
    assert boxes["image"]["left"] == pytest.approx(boxes["stage"]["left"], abs=MARGIN_PX)
    assert boxes["image"]["right"] == pytest.approx(boxes["stage"]["right"], abs=MARGIN_PX)
    assert boxes["image"]["height"] > 400
    assert boxes["dimension"]["bottom"] <= boxes["screen"]
