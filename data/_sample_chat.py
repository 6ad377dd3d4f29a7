"""Multi-turn tool-calling chats and DPO preference pairs for data/make_sample_data.py."""

from __future__ import annotations

import json
import random
from typing import Any

SYSTEM = "You are a friendly support agent for an online shop. Use the tools to look things up; never guess an order's state."

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_order_status",
            "description": "Look up the shipping state of an order.",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string", "description": "The order number, digits only."}
                },
                "required": ["order_id"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "create_refund",
            "description": "Refund an order (fully, or a given amount).",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string"},
                    "amount": {
                        "type": "number",
                        "description": "Amount in USD; omit for a full refund.",
                    },
                    "reason": {"type": "string"},
                },
                "required": ["order_id", "reason"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "update_address",
            "description": "Change the delivery address of an order that has not shipped.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}, "address": {"type": "string"}},
                "required": ["order_id", "address"],
            },
        },
    },
]

STATES = [
    ("in_transit", "on its way with the courier", "正在运输途中"),
    ("out_for_delivery", "out for delivery today", "今天正在派送"),
    ("processing", "still being packed at the warehouse", "仍在仓库打包"),
    ("delivered", "marked as delivered yesterday", "昨天已显示签收"),
]
ITEMS = [
    ("air fryer", "空气炸锅"),
    ("desk lamp", "台灯"),
    ("running shoes", "跑鞋"),
    ("smart watch", "智能手表"),
]
STREETS = [
    "18 Harbor Road, Boston",
    "77 Lake View Ave, Denver",
    "上海市徐汇区漕溪北路 88 号",
    "5 Elm Court, Austin",
]


def _call(idx: int, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "tool_calls": [
            {
                "id": f"call_{idx:03d}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
        ],
    }


def _tool(idx: int, content: dict[str, Any]) -> dict[str, Any]:
    return {
        "role": "tool",
        "tool_call_id": f"call_{idx:03d}",
        "content": json.dumps(content, ensure_ascii=False),
    }


def make_chat_examples(rng: random.Random, n: int = 16) -> list[dict[str, Any]]:
    """Multi-turn chats, each with at least one tool call and its tool reply."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        oid = str(rng.randrange(1_000_000, 9_999_999))
        item_en, item_zh = rng.choice(ITEMS)
        kind = i % 3
        msgs: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
        if kind == 0:
            state, en, _zh = rng.choice(STATES)
            msgs.append({"role": "user", "content": f"Hi, where is my {item_en}? Order {oid}."})
            msgs.append(_call(i, "get_order_status", {"order_id": oid}))
            msgs.append(_tool(i, {"order_id": oid, "status": state}))
            msgs.append({"role": "assistant", "content": f"Your order {oid} is {en}."})
            msgs.append(
                {"role": "user", "content": "Great, thanks! Can I still change the address?"}
            )
            if state == "processing":
                msgs.append(
                    {
                        "role": "assistant",
                        "content": "Yes - it hasn't shipped yet. What's the new address?",
                    }
                )
            else:
                msgs.append(
                    {
                        "role": "assistant",
                        "content": "Sorry, it has already left the warehouse, so the address can't be changed any more.",
                    }
                )
        elif kind == 1:
            amount = rng.choice([19.99, 45.0, 129.5, 8.75])
            msgs.append(
                {
                    "role": "user",
                    "content": f"The {item_en} from order {oid} arrived broken. I'd like my money back.",
                }
            )
            msgs.append(
                {
                    "role": "assistant",
                    "content": "I'm sorry to hear that. Would you like a full refund, or a partial one and keep the item?",
                }
            )
            msgs.append({"role": "user", "content": "A full refund please."})
            msgs.append(
                _call(i, "create_refund", {"order_id": oid, "reason": "damaged on arrival"})
            )
            msgs.append(_tool(i, {"refund_id": f"re_{oid}", "amount": amount, "status": "pending"}))
            msgs.append(
                {
                    "role": "assistant",
                    "content": f"Done: ${amount:.2f} is on its way back to your card (3-5 business days).",
                }
            )
        else:
            street = rng.choice(STREETS)
            msgs.append({"role": "user", "content": f"你好，订单{oid}的{item_zh}能改地址吗？"})
            msgs.append({"role": "assistant", "content": "可以的，请告诉我新的收货地址。"})
            msgs.append({"role": "user", "content": f"改成：{street}"})
            msgs.append(_call(i, "update_address", {"order_id": oid, "address": street}))
            msgs.append(_tool(i, {"order_id": oid, "updated": True}))
            msgs.append(
                {"role": "assistant", "content": f"已将订单{oid}的收货地址改为：{street}。"}
            )
        out.append({"messages": msgs, "tools": TOOLS, "parallel_tool_calls": False})
    return out


PAIRS: list[tuple[str, str, str]] = [
    (
        "My {item} arrived broken.",
        "I'm sorry your {item} arrived damaged! I've shipped a replacement today at no cost, and you don't need to return the broken one.",
        "Send it back and we'll see.",
    ),
    (
        "Where is my order {oid}?",
        "Order {oid} is with the courier and should arrive within two business days; I've emailed you the tracking link.",
        "It's shipped. Check the website.",
    ),
    (
        "I want a refund for {oid}.",
        "I've started a full refund for order {oid}; it will reach your original payment method in 3-5 business days.",
        "Refunds take a while. Be patient.",
    ),
    (
        "Can I change the address on {oid}?",
        "Yes - {oid} hasn't shipped yet. Reply with the new address and I'll update it right away.",
        "No.",
    ),
    (
        "My promo code doesn't work.",
        "Sorry about that! I've applied the 10% discount to your order manually, so you'll see it on the receipt.",
        "The code is probably wrong.",
    ),
    (
        "我的{item_zh}什么时候到？订单{oid}",
        "订单{oid}已经发出，预计两个工作日内送达，物流链接已发到您的邮箱。",
        "不知道，自己查。",
    ),
    (
        "收到的{item_zh}是坏的",
        "非常抱歉！新的{item_zh}今天就为您补发，坏的不用寄回。",
        "你是不是自己弄坏的？",
    ),
    (
        "发票怎么开？",
        "您可以在“我的订单-发票”中自助开具电子发票；如需专票，告诉我抬头和税号即可。",
        "找财务。",
    ),
    (
        "I forgot my password.",
        "No problem - I've sent a reset link to your email; it's valid for 30 minutes.",
        "Make a new account.",
    ),
    (
        "Is the {item} back in stock?",
        "The {item} is due back next week. Want me to email you the moment it's available?",
        "Nope.",
    ),
    (
        "Can I return the {item}? It's too small.",
        "Of course - I've emailed you a free return label for the {item}; once it's scanned we'll refund you or send the right size.",
        "Read the return policy.",
    ),
    (
        "My card was charged twice for order {oid}.",
        "I'm sorry! I can see the duplicate charge on {oid} and have voided it; it will disappear from your statement in 3-5 days.",
        "Talk to your bank.",
    ),
    (
        "退货运费谁承担？买的{item_zh}不合适",
        "尺码不合适的退货运费由我们承担，已为您发送免费退货面单。",
        "你自己付。",
    ),
    (
        "优惠券用不了，订单{oid}",
        "抱歉给您带来不便！已为订单{oid}手动补上优惠，差价将原路退回。",
        "过期了吧。",
    ),
    (
        "My loyalty points disappeared.",
        "I've checked your account and restored the missing points; they're visible in your balance now.",
        "Points expire sometimes.",
    ),
    (
        "The {item} stopped working after three months.",
        "That's covered by the one-year warranty - I've booked a free pickup and you'll get a repaired or new {item} within a week.",
        "Buy a new one.",
    ),
]


def make_dpo_examples(rng: random.Random, n: int = 16) -> list[dict[str, Any]]:
    """Preference pairs (OpenAI DPO format): a helpful preferred reply and a curt one."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        prompt, good, bad = PAIRS[i % len(PAIRS)]
        item_en, item_zh = rng.choice(ITEMS)
        slots = {
            "item": item_en,
            "item_zh": item_zh,
            "oid": str(rng.randrange(1_000_000, 9_999_999)),
        }
        out.append(
            {
                "input": {
                    "messages": [
                        {"role": "system", "content": SYSTEM},
                        {"role": "user", "content": prompt.format(**slots)},
                    ],
                    "tools": [],
                    "parallel_tool_calls": True,
                },
                "preferred_output": [{"role": "assistant", "content": good.format(**slots)}],
                "non_preferred_output": [{"role": "assistant", "content": bad.format(**slots)}],
            }
        )
    return out
