"""Generate the sample data in data/ deterministically (run it twice: identical bytes).

    python data/make_sample_data.py            # writes data/support_tickets.csv,
                                               # data/chat_tools.jsonl, data/dpo_pairs.jsonl

support_tickets.csv is a customer-support triage table (English, Chinese and mixed messages, one
intent label each). It is built to be learnable but not trivial: paraphrases that avoid the
label's own words, Chinese messages, typos, a few genuinely ambiguous tickets, and the dirt of a
real export (blank rows, re-sent tickets). The template tables live in _sample_templates.py.
"""

from __future__ import annotations

import csv
import io
import json
import random
import sys
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _sample_chat import make_chat_examples, make_dpo_examples
from _sample_templates import (
    AMBIGUOUS,
    COMPANIES,
    EN,
    HOMOPHONES,
    INTENT_WEIGHTS,
    ITEMS,
    MIXED,
    REPLIES,
    ZH,
)

SEED = 20250414
N_ROWS = 880
INTENTS = list(INTENT_WEIGHTS)
SYSTEM = (
    "You are the triage assistant of an online shop's customer support. Read the customer's "
    "message (English or Chinese) and answer with exactly one intent label from this list: "
    + ", ".join(INTENTS)
    + ". Reply with the label only."
)
CITIES_EN = ["Seattle", "Austin", "Denver", "Boston", "Chicago", "Portland", "Atlanta"]
CITIES_ZH = ["上海", "北京", "深圳", "杭州", "成都", "广州", "南京"]
CODES = ["SAVE10", "WELCOME15", "SPRING20", "VIP5", "FREESHIP", "BACK2SCHOOL"]
KEYBOARD = "qwertyuiopasdfghjklzxcvbnm"


def _norm(text: str) -> str:
    """Normalised form used to keep generated tickets distinct (casefold, no punctuation)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith(("P", "S")))
    return " ".join(text.split())


def _typo(rng: random.Random, text: str) -> str:
    """One keyboard slip in a random word of at least four letters."""
    words = text.split(" ")
    spots = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not spots:
        return text
    i = rng.choice(spots)
    w = words[i]
    j = rng.randrange(1, len(w) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    elif kind == 1:
        w = w[:j] + w[j + 1 :]
    elif kind == 2:
        w = w[:j] + w[j] + w[j:]
    else:
        w = w[:j] + rng.choice(KEYBOARD) + w[j + 1 :]
    words[i] = w
    return " ".join(words)


def _slots(rng: random.Random, lang: str) -> dict[str, str]:
    item_en, item_zh = rng.choice(ITEMS)
    oid = str(rng.randrange(1_000_000, 9_999_999))
    return {
        "oid": rng.choice(["#", "", "", "SO-"]) + oid,
        "item": item_zh if lang != "en" else item_en,
        "days": str(rng.randrange(3, 15)),
        "city": rng.choice(CITIES_ZH if lang != "en" else CITIES_EN),
        "code": rng.choice(CODES),
        "amount": f"{rng.randrange(9, 400)}.{rng.choice(['00', '99', '50'])}",
        "company": rng.choice(COMPANIES),
        "months": str(rng.randrange(2, 14)),
    }


def _dress_en(rng: random.Random, text: str) -> str:
    text = rng.choice(["", "", "", "Hi, ", "Hello, ", "Hey - ", "Hi team, "]) + text
    text += rng.choice(["", "", "", " Thanks!", " thx", " Thank you.", " ASAP please"])
    for _ in range(rng.choice([0, 0, 0, 1, 1, 2])):
        text = _typo(rng, text)
    style = rng.random()
    if style < 0.15:
        text = text.lower().rstrip(".!?")
    elif style < 0.18:
        text = text.upper()
    return text


def _dress_zh(rng: random.Random, text: str) -> str:
    text = rng.choice(["", "", "", "你好，", "客服你好，", "在吗？", "亲，"]) + text
    text += rng.choice(["", "", "", "，谢谢", "！！", "。", "，急"])
    if rng.random() < 0.15:
        for right, wrong in HOMOPHONES:
            if right in text:
                text = text.replace(right, wrong, 1)
                break
    if rng.random() < 0.2:
        text = text.replace("，", ",").replace("？", "?").replace("！", "!")
    return text


def _reply(rng: random.Random, intent: str, lang: str, slots: dict[str, str]) -> str:
    options = REPLIES[intent]["zh" if lang != "en" else "en"]
    return rng.choice(options).format(**slots)


def make_tickets(seed: int = SEED, n_rows: int = N_ROWS) -> list[dict[str, str]]:
    """The support-ticket rows, in file order (blank rows and re-sent tickets included)."""
    rng = random.Random(seed)
    weights = [INTENT_WEIGHTS[i] for i in INTENTS]
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    while len(rows) < n_rows:
        lang = rng.choices(["en", "zh", "mixed"], weights=[0.52, 0.40, 0.08])[0]
        table = {"en": EN, "zh": ZH, "mixed": MIXED}[lang]
        if rng.random() < 0.06:
            options = [a for a in AMBIGUOUS if a[0] == ("en" if lang == "en" else "zh")]
            _, template, labels = rng.choice(options)
            intent = rng.choices(
                labels, weights=[0.6] + [0.4 / (len(labels) - 1)] * (len(labels) - 1)
            )[0]
        else:
            intent = rng.choices(INTENTS, weights=weights)[0]
            template = rng.choice(table[intent])
        slots = _slots(rng, lang)
        text = template.format(**slots)
        text = _dress_en(rng, text) if lang == "en" else _dress_zh(rng, text)
        key = _norm(text)
        if key in seen:
            continue  # keep generated tickets distinct; duplicates are added on purpose below
        seen.add(key)
        rows.append(
            {
                "ticket_id": f"T{10000 + len(rows)}",
                "text": text,
                "intent": intent,
                "language": lang,
                "reply": _reply(rng, intent, lang, slots),
                "system": SYSTEM,
            }
        )
    # A real export is dirty: customers re-send tickets (exactly, or with other spacing/case).
    for k in range(14):
        src = dict(rows[rng.randrange(len(rows))])
        src["ticket_id"] = f"T{20000 + k}"
        rows.insert(rng.randrange(len(rows) + 1), src)
    for k in range(10):
        src = dict(rows[rng.randrange(len(rows))])
        src["ticket_id"] = f"T{30000 + k}"
        src["text"] = "  " + src["text"].upper().rstrip("。.!！") + " "
        rows.insert(rng.randrange(len(rows) + 1), src)
    for _ in range(3):
        blank = dict.fromkeys(rows[0], "")
        rows.insert(rng.randrange(1, len(rows)), blank)
    return rows


def tickets_csv(rows: list[dict[str, str]]) -> str:
    """The rows as CSV text (UTF-8, LF line ends, minimal quoting)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def jsonl(records: list[dict[str, object]]) -> str:
    """Records as JSON Lines (non-ASCII kept readable)."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def build() -> dict[str, str]:
    """Every sample file's name and exact text."""
    return {
        "support_tickets.csv": tickets_csv(make_tickets()),
        "chat_tools.jsonl": jsonl(make_chat_examples(random.Random(SEED + 1))),
        "dpo_pairs.jsonl": jsonl(make_dpo_examples(random.Random(SEED + 2))),
    }


def main(out_dir: Path | None = None) -> None:
    """Write the sample files into out_dir (default: the folder of this script)."""
    target = out_dir or Path(__file__).resolve().parent
    for name, text in build().items():
        (target / name).write_bytes(text.encode("utf-8"))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
