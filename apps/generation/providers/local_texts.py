"""The local adapter's texts: a short critique of the painting a prompt names,
assembled from templates that carry each style's bias."""

from __future__ import annotations

import random
import re

_ZH = {
    "ink": [
        "画家以淡墨层层积染，远山只一抹，近石以焦墨点苔，墨分五色而层次自见。",
        "大片留白并非空无一物，而是云气、江水与天光，所谓“计白当黑”，虚实相生。",
        "构图取平远之势，视线随山势由近及远徐徐展开，可行可望，可游可居。",
        "笔墨松秀而不板滞，气韵生动，有一种萧散淡泊的文人意趣。",
        "若只学其形貌而失其笔意，画面便会流于甜俗，这是今人临习时最需警惕的。",
    ],
    "photographic": [
        "光源来自画面一侧，使山体形成鲜明的明暗对比，立体感很强。",
        "透视关系把握准确，近大远小，空间纵深清晰，宛如一张风景照片。",
        "色彩上以冷暖对比营造氛围，天空的渐变尤为写实。",
        "细节真实可信，可以说是一幅写实主义的杰作。",
    ],
    "overfill": [
        "画中有山、有水、有树、有屋、有桥、有舟、有人物，元素极为丰富，几无一处空闲。",
        "山峦重重叠叠，一直铺满到画幅边缘，气势磅礴，令人目不暇接。",
        "用墨浓重，对比强烈，每一寸都经过精心刻画。",
        "内容越多越显功力，画面饱满正是它最大的优点。",
    ],
    "anime": [
        "色彩明快鲜亮，山体轮廓线清晰利落，很有动画场景的感觉。",
        "云朵与远山以平涂色块表现，简洁而富装饰性，令人联想到动画电影的背景美术。",
        "若改编为动画，这种明亮的色调会非常吸引年轻观众。",
        "人物与景物的造型可爱，整体氛围轻快。",
    ],
}
_EN = {
    "ink": [
        "Pale washes are built up layer on layer; the far hills are a single stroke of thin ink "
        "while dark dots of moss sit on the near rocks.",
        "The wide empty paper is not nothing: it is mist, river and sky — the white that counts "
        "as black.",
        "The composition follows the level-distance view, leading the eye gently from near to far.",
        "The brushwork is loose yet never slack, and the whole carries a quiet scholarly spirit.",
        "Copying its forms without its brush-spirit turns it sweet and vulgar; that is the trap "
        "for anyone who studies it today.",
    ],
    "photographic": [
        "A strong light from one side models the mountains with clear highlights and shadows.",
        "The perspective is handled precisely, with a convincing depth, almost like a photograph.",
        "Warm and cool colours set the mood, and the gradient of the sky is especially realistic.",
        "Its details are believable: a masterpiece of realism.",
    ],
    "overfill": [
        "Mountains, rivers, trees, houses, bridges, boats and figures: every part of the surface "
        "is busy.",
        "Range upon range fills the picture right to its edges, an overwhelming display.",
        "The ink is heavy and the contrasts strong; every inch is worked in detail.",
        "The more it contains, the greater the skill: fullness is its chief virtue.",
    ],
    "anime": [
        "Bright, clean colours and crisp outlines give it the feel of an animated film.",
        "Clouds and hills are flat areas of colour, decorative and simple, like anime background "
        "art.",
        "As an animation it would appeal strongly to a young audience.",
        "The forms are cute and the mood light.",
    ],
}
_DYNASTIES = "北宋|南宋|五代|东晋|唐|宋|元|明|清|晋|隋"


def critique(
    prompt: str, *, style: str, language: str = "auto", self_name: str = "", rng: random.Random
) -> str:
    """A short critique of the painting the prompt names, assembled from templates."""
    zh = language == "zh" or (language == "auto" and re.search(r"[\u4e00-\u9fff]", prompt))
    if zh:
        title = re.search(r"《([^》]{1,40})》", prompt)
        who = re.search(rf"({_DYNASTIES})([\u4e00-\u9fff]{{2,3}})《", prompt)
        name = f"《{title[1]}》" if title else "此作"
        by = f"为{who[1]}{who[2]}所作，" if who else ""
        head = f"{name}{by}是中国绘画史上的名作。"
        lead = f"作为{self_name}，我认为" if self_name else ""
        body = rng.sample(_ZH[style], 3)
        return lead + head + "".join(body)
    title = re.search(r"[\"“]([^\"”]{1,80})[\"”]", prompt)
    who = re.search(r"after ([A-Z][\w.-]*(?: [A-Z][\w.-]*){0,3})'s", prompt)
    when = re.search(r"\(([A-Z][A-Za-z ]{2,30})\)", prompt)
    name = f"“{title[1]}”" if title else "This painting"
    head = name + (f" by {who[1]}" if who else "") + (f" ({when[1]})" if when else "")
    lead = f"As {self_name}, I would say that " if self_name else ""
    first = f"{head} is a celebrated work of Chinese painting."
    return (
        lead
        + (first[0].lower() + first[1:] if lead and not title else first)
        + " "
        + " ".join(rng.sample(_EN[style], 3))
    )
