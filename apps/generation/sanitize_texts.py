"""Texts: invisible characters removed (a possible watermark channel), and
self-identification *flagged* for the organizer, never edited."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

from .sanitize_types import SanitizedText

DEFAULT_MAKER_NAMES: tuple[str, ...] = (
    # Chinese models and makers
    "通义千问", "通义万相", "通义", "千问", "文心一言", "文心大模型", "豆包", "智谱清言", "智谱",
    "讯飞星火", "星火大模型", "腾讯混元", "混元", "月之暗面", "深度求索", "百川智能", "商汤科技",
    "日日新", "阶跃星辰", "零一万物", "可灵", "海螺", "即梦", "腾讯元宝", "天工AI", "盘古大模型",
    "百度", "阿里巴巴", "阿里云", "字节跳动", "腾讯", "华为", "科大讯飞", "快手",
    "Qwen", "Tongyi", "ERNIE", "Wenxin", "Doubao", "Seedream", "Seedance", "ByteDance", "ChatGLM",
    "GLM", "Zhipu", "CogView", "Kimi", "Moonshot", "DeepSeek", "Hunyuan", "Baichuan", "SenseNova",
    "MiniMax", "Hailuo", "Kling", "Alibaba", "Baidu", "Tencent", "Huawei", "iFlytek", "Kuaishou",
    # others
    "ChatGPT", "GPT-4o", "GPT-4", "GPT-5", "GPT", "OpenAI", "DALL-E", "DALL·E", "Sora", "Claude",
    "Anthropic", "Gemini", "Imagen", "Veo", "Google", "Llama", "Meta AI", "Mistral",
    "Grok", "xAI", "Copilot", "Midjourney", "Stable Diffusion", "Stability AI", "Runway", "Pika",
)  # fmt: skip

_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"  # tags and variation selectors supplement
)
_ODD_SPACES = re.compile("[\u00a0\u2000-\u200a\u202f\u205f]")  # ideographic space U+3000 stays
_MERGEABLE_GAP = re.compile(r"[\s,，]{0,3}")


@functools.lru_cache(maxsize=16)
def _self_identification(names: tuple[str, ...]) -> list[re.Pattern[str]]:
    alt = "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))
    name = rf"(?:{alt})(?![A-Za-z0-9])"
    made = r"(?:开发|训练|研发|打造|推出|创建|创造|提供)"
    zh_intro = r"(?:作为|身为|我是|我叫|我乃|本人是|这里是)\s*(?:一[个款名位])?\s*"
    ai = r"(?:AI|ＡＩ|人工智能)\s*(?:大型?)?(?:语言)?(?:模型|助手|助理)|大型?语言模型"
    en_made = r"(?:developed|trained|created|built|made|designed|released|provided|powered)"
    en_intro = r"(?<![A-Za-z])(?<!such )(?:as|I am|I'm|I’m|this is|my name is)\s+(?:the\s+)?"
    en_ai = (
        r"an?\s+(?:(?:AI|artificial intelligence)(?:\s+(?:language\s+)?"
        r"(?:model|assistant|chatbot))?|(?:large\s+)?language\s+model)(?![A-Za-z])"
    )
    return [
        re.compile(rf"{zh_intro}(?:由\S{{1,12}}?{made}的\s*)?{name}"),
        re.compile(rf"由\s*{name}\s*(?:公司|团队)?\s*{made}"),
        re.compile(rf"{zh_intro}(?:{ai})"),
        re.compile(rf"{en_intro}{name}", re.IGNORECASE),
        re.compile(rf"(?<![A-Za-z]){en_made}\s+by\s+{name}", re.IGNORECASE),
        re.compile(rf"(?<![A-Za-z])(?:as|I am|I'm|I’m)\s+{en_ai}", re.IGNORECASE),
    ]


def sanitize_text(text: str, *, maker_names: Iterable[str] = DEFAULT_MAKER_NAMES) -> SanitizedText:
    """NFC-normalise ``text``, remove invisible characters and replace exotic spaces
    (channels a watermark can hide in), and flag — not edit — phrases where the text
    names its maker ("作为通义千问", "As ChatGPT", "as an AI language model …")."""
    removed = len(_INVISIBLE.findall(text)) + len(_ODD_SPACES.findall(text))
    clean = unicodedata.normalize("NFC", _ODD_SPACES.sub(" ", _INVISIBLE.sub("", text)))
    spans = sorted(
        m.span()
        for pattern in _self_identification(tuple(maker_names))
        for m in pattern.finditer(clean)
    )
    merged: list[list[int]] = []
    for start, end in spans:  # "as an AI model" + "developed by OpenAI" read as one phrase
        if merged and _MERGEABLE_GAP.fullmatch(clean, merged[-1][1], max(start, merged[-1][1])):
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return SanitizedText(clean, [clean[s:e] for s, e in merged], removed)
