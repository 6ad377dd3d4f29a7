"""Translation and summary metrics: BLEU and chrF (sacrebleu), ROUGE-L (our own LCS)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_WORD = re.compile(r"\w+", re.UNICODE)


def has_cjk(text: str) -> bool:
    """True when the text contains Chinese, Japanese or Korean characters."""
    return _CJK.search(text) is not None


def tokens(text: str) -> list[str]:
    """Lower-case word tokens; each CJK character is its own token (no spaces between words)."""
    out: list[str] = []
    for word in _WORD.findall(unicodedata.normalize("NFKC", text).casefold()):
        if has_cjk(word):
            buf = ""
            for ch in word:
                if _CJK.match(ch):
                    if buf:
                        out.append(buf)
                        buf = ""
                    out.append(ch)
                else:
                    buf += ch
            if buf:
                out.append(buf)
        else:
            out.append(word)
    return out


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (O(len(a) * len(b)) time, O(len(b)) memory)."""
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 over word tokens (characters for CJK)."""
    p, r = tokens(prediction), tokens(reference)
    lcs = lcs_length(p, r)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def bleu(prediction: str, reference: str) -> float:
    """Sentence BLEU in [0, 1] (sacrebleu, exponential smoothing; ``zh`` tokens for CJK)."""
    import sacrebleu

    tok = "zh" if has_cjk(reference) else "13a"
    return float(sacrebleu.sentence_bleu(prediction, [reference], tokenize=tok).score) / 100.0


def chrf(prediction: str, reference: str) -> float:
    """Sentence chrF in [0, 1] (sacrebleu defaults: character 6-grams, beta 2)."""
    import sacrebleu

    return float(sacrebleu.sentence_chrf(prediction, [reference]).score) / 100.0


METRICS: dict[str, Callable[[str, str], float]] = {"bleu": bleu, "chrf": chrf, "rouge_l": rouge_l}
