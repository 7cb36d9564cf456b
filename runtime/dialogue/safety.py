"""Safety phrases: a lost child, an emergency, a visitor feeling unwell, in English and Chinese.

Such words never reach the model: the avatar gives the persona's fixed response and the think
actor tells the staff (SafetyEvent). The built-in phrases are regular expressions searched in the
visitor's words after normalisation (lower case, simplified characters, no punctuation); [safety]
in the config adds more and can switch the check off.
"""

from __future__ import annotations

import re
import unicodedata

from runtime.core.compat import StrEnum
from runtime.speech.language import to_simplified

_CJK_SPACE = re.compile(r"(?<=[\u3400-\u9fff]) | (?=[\u3400-\u9fff])")


class SafetyCategory(StrEnum):
    """Situations where the avatar gives a fixed response and tells the staff."""

    LOST_CHILD = "lost_child"
    EMERGENCY = "emergency"
    UNWELL = "unwell"


_CHILD = r"(child|kid|son|daughter|baby|boy|girl|children|kids|grandson|granddaughter|little one)"
_NOT_FOUND = r"(lost|can't find|cannot find|can not find|where is|where's)"
PHRASES: dict[SafetyCategory, dict[str, list[str]]] = {
    SafetyCategory.LOST_CHILD: {
        "en": [rf"\b{_NOT_FOUND} my {_CHILD}\b(?!')", rf"\bmy {_CHILD} (is|are) (lost|missing|gone)\b",
               r"\b(lost|missing) (child|kid|children)\b",
               r"\b(lost|can't find|cannot find|can not find) my "
               r"(mom|mum|mommy|mummy|dad|daddy|parents|mother|father)\b"],
        "zh": [r"(孩子|小孩|儿子|女儿|宝宝|孙子|孙女)(走丢|走失|不见|丢了|找不到)",
               r"(找不到|丢了|走丢了)(我的|我家)?(孩子|小孩|儿子|女儿|宝宝)",
               r"(找不到|看不到|不见了)(我的)?(妈妈|爸爸|爸妈|家长|大人)", r"走失", r"迷路的(孩子|小孩)"]},
    SafetyCategory.EMERGENCY: {
        "en": [r"\bemergency\b(?! (exit|exits|door|doors|stairs|staircase|number|lighting))",
               r"\bcall (an ambulance|the police|the fire brigade|911|999|112)\b",
               r"\b(there is|there's) a fire\b", r"\bon fire\b", r"^help( me)?( please)?$", r"\bhelp help\b",
               r"\b(collapsed|fainted|unconscious|not breathing|stopped breathing|heart attack|is bleeding)\b"],
        "zh": [r"紧急(情况|事件|状况)", r"救命", r"(叫|打)(救护车|120|110|119|警察)", r"报警",
               r"着火|失火|火灾", r"(晕倒|昏倒|昏迷|不省人事|没有呼吸|没呼吸|心脏病)"]},
    SafetyCategory.UNWELL: {
        "en": [r"\bi (feel|am feeling|'m feeling) (sick|ill|unwell|dizzy|faint|nauseous|terrible|awful)\b",
               r"\b(i'm|i am) (sick|ill|unwell|dizzy|going to faint|going to be sick|about to faint)\b",
               r"\b(not feeling|don't feel|do not feel) (well|good)\b",
               r"\b(chest pain|can't breathe|cannot breathe|hard to breathe|need a doctor|first aid)\b"],
        "zh": [r"不舒服", r"头(很|好|有点)?晕", r"(想|要)吐", r"恶心", r"胸(口)?(疼|痛|闷)", r"喘不(过|上)气",
               r"(需要|找|叫)医生", r"(肚子|头)(很|好)?(疼|痛)", r"生病了", r"难受"]},
}
"""Built-in phrases by category and language (regular expressions on normalised words)."""

RESPONSES: dict[SafetyCategory, dict[str, str]] = {
    SafetyCategory.LOST_CHILD: {
        "en": "Please stay right here. I am calling the staff now, and someone will come to help you very soon.",
        "zh": "请就在这里等一下，不要走开。我正在通知工作人员，马上有人来帮助您。"},
    SafetyCategory.EMERGENCY: {
        "en": "I am alerting the staff right now. If someone is in danger, call the emergency number at once "
              "and follow the staff's instructions.",
        "zh": "我正在通知工作人员。如果有人遇到危险，请立即拨打急救电话，并听从工作人员的指示。"},
    SafetyCategory.UNWELL: {
        "en": "I am sorry you do not feel well. I am calling the staff to help you; please sit down and wait here.",
        "zh": "很抱歉您感觉不舒服。我正在通知工作人员来帮助您，请先坐下，在这里稍等。"},
}
"""Built-in fixed responses by category and language (a persona may set its own)."""


def normalise(text: str) -> str:
    """Lower case, simplified characters, punctuation as spaces, single spaces."""
    text = to_simplified(unicodedata.normalize("NFKC", text)).lower().replace("’", "'")
    text = " ".join("".join(c if c.isalnum() or c == "'" else " " for c in text).split())
    return _CJK_SPACE.sub("", text)  # Chinese is written without spaces: 孩子 走丢了 == 孩子走丢了


class SafetyCheck:
    """Finds the safety category of a visitor's words, if any."""

    def __init__(self, extra: dict[SafetyCategory, dict[str, list[str]]] | None = None,
                 enabled: bool = True) -> None:
        self.enabled = enabled
        self._patterns = [(category, re.compile(pattern))
                          for category in SafetyCategory
                          for source in (PHRASES, extra or {})
                          for patterns in source.get(category, {}).values()
                          for pattern in patterns]

    def __call__(self, text: str) -> SafetyCategory | None:
        """The category of the first phrase found in the text (None: nothing to report)."""
        if not self.enabled:
            return None
        words = normalise(text)
        return next((category for category, pattern in self._patterns if pattern.search(words)), None)
