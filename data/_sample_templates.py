"""Message templates for data/make_sample_data.py (customer-support triage, English + Chinese).

Most English paraphrases avoid the words of their own label on purpose (a word-overlap rule
must not solve the task); Chinese messages never contain them.
"""

from __future__ import annotations

# Relative frequency of each intent (shipping questions dominate real inboxes).
INTENT_WEIGHTS: dict[str, float] = {
    "shipping_status": 1.6,
    "refund_request": 1.3,
    "cancel_order": 1.0,
    "change_address": 0.8,
    "invoice_request": 0.7,
    "return_item": 1.0,
    "damaged_item": 0.9,
    "payment_failed": 0.8,
    "account_access": 0.8,
    "discount_code": 0.7,
    "product_availability": 0.7,
    "warranty_claim": 0.6,
    "loyalty_points": 0.5,
}

ITEMS = [
    ("wireless earbuds", "无线耳机"),
    ("running shoes", "跑鞋"),
    ("coffee grinder", "咖啡研磨机"),
    ("yoga mat", "瑜伽垫"),
    ("phone case", "手机壳"),
    ("desk lamp", "台灯"),
    ("backpack", "双肩包"),
    ("blender", "榨汁机"),
    ("winter jacket", "羽绒服"),
    ("bluetooth speaker", "蓝牙音箱"),
    ("water bottle", "保温杯"),
    ("office chair", "办公椅"),
    ("air fryer", "空气炸锅"),
    ("smart watch", "智能手表"),
]

COMPANIES = [
    "杭州云帆科技有限公司",
    "Northwind Traders LLC",
    "深圳星河贸易有限公司",
    "Blue Harbor GmbH",
]

# (correct, slip) pairs: common Chinese input-method mistakes.
HOMOPHONES = [
    ("已经", "以经"),
    ("的", "得"),
    ("在", "再"),
    ("账", "帐"),
    ("收到", "受到"),
    ("怎么", "怎莫"),
]

EN: dict[str, list[str]] = {
    "shipping_status": [
        "Where is my package? I bought the {item} {days} days ago and still nothing.",
        "Can you tell me when {oid} will arrive?",
        "tracking for {oid} hasn't updated since Monday, is it lost?",
        "Any shipping update? It's been {days} days.",
        "What's the shipping status of order {oid}?",
        "My {item} still hasn't shown up. Is it on the way?",
        "The courier page has said 'label created' for a week. When does it actually go out?",
        "What's the status of my parcel? It's {oid}.",
        "How long does delivery to {city} usually take? Still waiting on my {item}.",
        "can u check where my shipment {oid} is",
        "It says delivered but there's nothing at my door. {oid}",
        "Is the {item} I ordered coming this week? Need it for a trip.",
    ],
    "refund_request": [
        "I'd like a refund for the {item}, it's not what I expected.",
        "Please give me my money back for {oid}.",
        "When will the ${amount} be credited back to my card?",
        "Requesting a refund on {oid} please.",
        "I sent the {item} back last week, where is my refund?",
        "You still owe me ${amount} for the {item} I shipped back to you.",
        "The reimbursement for {oid} never reached my bank account.",
        "I want the ${amount} reversed to my Visa, the {item} was useless.",
        "need a refund for {oid} asap",
        "How many days until I see the ${amount} back on my statement?",
    ],
    "cancel_order": [
        "Please cancel order {oid}, I bought it by mistake.",
        "I changed my mind about the {item}, can you stop the purchase before it goes out?",
        "Cancel the {item} please, I no longer need it.",
        "Is it too late to call off purchase {oid}?",
        "I want to cancel my order for the {item}.",
        "Accidentally bought two of the {item}, please void one before dispatch.",
        "Please scrap my purchase from this morning, found it cheaper elsewhere.",
        "how do i cancel {oid}",
        "Stop {oid} please, I placed it twice by accident.",
    ],
    "change_address": [
        "I moved last week, can you send {oid} to my new place in {city}?",
        "I put the wrong street at checkout, it should be 42 Pine St, not 24 Pine St.",
        "Please update the delivery address for {oid}.",
        "Can I redirect my parcel to my office in {city} instead?",
        "I typed the wrong zip code for my {item}, can you fix it before it leaves?",
        "ship it to my parents' house in {city} instead please",
        "My apartment number is missing from the label, it's unit 5B.",
        "Can I change the address on {oid}? I'm moving to {city}.",
        "Wrong destination on {oid} - it needs to go to {city}, not my old flat.",
    ],
    "invoice_request": [
        "Could you send me an invoice for {oid}? I need it for expenses.",
        "I need a VAT receipt with my company name on it.",
        "Where can I download the receipt for my {item}?",
        "Please email me a tax invoice for the ${amount} purchase.",
        "My accountant needs a bill showing our tax ID for {oid}.",
        "can i get a proper receipt for {oid}, the email one is missing the price",
        "The billing document shows the wrong company name ({company}), can you reissue it?",
    ],
    "return_item": [
        "How do I send back the {item}? It doesn't fit.",
        "I'd like to return the {item}, the color is different from the photo.",
        "Can I exchange the {item} for a larger size?",
        "Is there a prepaid label to mail the {item} back?",
        "What's your policy on sending back opened products?",
        "bought the wrong model of {item}, want to send it back",
        "The {item} is fine but I don't want it anymore, can I still ship it back within {days} days?",
        "Where do I drop off the {item} to give it back?",
        "Can I return an item I bought {days} days ago?",
    ],
    "damaged_item": [
        "The {item} arrived broken, the box was crushed.",
        "My {item} came damaged, with scratches all over it.",
        "Received {oid} today and it's damaged, what now?",
        "The {item} doesn't turn on at all, dead on arrival.",
        "Half the parts are missing and the rest is dented.",
        "The box was soaked and the {item} inside is ruined.",
        "there's a big crack in my {item} straight out of the box",
        "The {item} was shattered when I opened the parcel.",
    ],
    "payment_failed": [
        "My card keeps getting declined at checkout.",
        "The payment failed but the money was taken from my bank.",
        "I was charged twice for {oid}!",
        "Checkout says 'transaction error' every time I try to pay.",
        "PayPal shows the money went through but your site says unpaid.",
        "Why is there a pending charge of ${amount} when the purchase didn't go through?",
        "can't pay with apple pay, it just spins forever",
        "My Visa was rejected even though it has plenty of credit.",
    ],
    "account_access": [
        "I can't log in, it says my password is wrong.",
        "Forgot my password and the reset email never arrives.",
        "My account got locked after too many attempts.",
        "The verification SMS never comes so I can't sign in.",
        "I lost the email I registered with, how do I get back into my profile?",
        "Someone else might be using my login, I see purchases I didn't make.",
        "two-factor keeps failing, I'm stuck on the sign-in screen",
        "I can't access my account since yesterday.",
    ],
    "discount_code": [
        "My promo code {code} isn't working.",
        "The coupon says expired but your email said valid until Sunday.",
        "I forgot to apply my voucher, can you add it to {oid}?",
        "Is there a student discount?",
        "Why was the 20% off not applied to my cart?",
        "{code} says not valid for this product",
        "The newsletter sign-up offer never came through.",
        "My discount code {code} gets rejected at checkout.",
    ],
    "product_availability": [
        "When will the {item} be back in stock?",
        "Do you have the {item} in size M?",
        "Is the blue {item} still available?",
        "Will you restock the {item} before Christmas?",
        "The {item} page says sold out, any chance more are coming?",
        "Are you getting more of the {item}? I want two.",
        "Is this product available in black?",
        "Any news on availability of the {item}?",
    ],
    "warranty_claim": [
        "My {item} stopped working after {months} months, is it covered?",
        "The {item} broke after half a year of normal use, can you repair it?",
        "How do I make a warranty claim for my {item}?",
        "Is the {item} guaranteed for two years? It's making a grinding noise now.",
        "The battery of my {item} won't hold a charge anymore, bought it in March.",
        "The zipper on my {item} came apart after {months} months.",
    ],
    "loyalty_points": [
        "My points from the last purchase never showed up.",
        "How many reward points do I have?",
        "Can I use my member credits to pay for the {item}?",
        "My rewards balance dropped to zero for no reason.",
        "Do they expire? I had 3000 and now I have 1200.",
        "I didn't get the bonus stars for my birthday.",
        "how do i redeem my membership rewards on {oid}",
    ],
}

ZH: dict[str, list[str]] = {
    "shipping_status": [
        "我的快递到哪了？订单号{oid}",
        "{item}下单{days}天了还没收到，能帮我查一下吗？",
        "物流信息一直没更新，是不是丢件了？",
        "请问{oid}什么时候能送到？",
        "包裹还在路上吗？已经等了一个星期了",
        "怎么查物流？我买的{item}到现在都没动静",
        "快递显示已签收，但我没收到东西",
        "{item}发到{city}一般要几天？",
    ],
    "refund_request": [
        "我要退款，{item}和描述不一样",
        "钱什么时候退回到我的卡上？",
        "东西已经寄回{days}天了，退款还没到账",
        "请把{oid}的货款退给我",
        "申请退款，{amount}元",
        "退款流程走到哪一步了？{oid}",
    ],
    "cancel_order": [
        "帮我取消订单{oid}，拍错了",
        "我不想要了，还没发货的话请取消",
        "{item}不要了，能不能把订单撤销？",
        "下错单了，麻烦取消一下{oid}",
        "刚刚买的{item}能取消吗？在别家看到更便宜的",
    ],
    "change_address": [
        "收货地址填错了，能帮我改一下吗？{oid}",
        "我搬家了，{oid}请寄到{city}的新地址",
        "门牌号写错了，应该是12号楼3单元",
        "能不能改成寄到公司？地址是{city}市科技路88号",
        "手机号和地址都要修改，订单{oid}",
    ],
    "invoice_request": [
        "请帮我开一张增值税专用发票，订单{oid}",
        "{oid}的发票在哪里下载？",
        "公司报销需要发票，抬头是{company}",
        "发票抬头开错了，能重开吗？应该是{company}",
        "可以开电子发票吗？金额{amount}元",
    ],
    "return_item": [
        "{item}尺码不合适，想退货",
        "怎么把{item}寄回去？",
        "七天无理由退货怎么操作？买的是{item}",
        "想换一个大一号的{item}，可以换货吗？",
        "退货运费谁出？{oid}",
        "{item}颜色和图片不一样，我要退回",
    ],
    "damaged_item": [
        "收到的{item}是坏的，外包装都压扁了",
        "{item}屏幕碎了，刚拆开就这样",
        "东西到了但是有划痕和裂缝，{oid}",
        "{item}开不了机，收到就是坏的",
        "快递送来的时候箱子湿透了，{item}全泡坏了",
        "少了配件，而且{item}外壳有凹痕",
    ],
    "payment_failed": [
        "付款一直失败，银行卡显示扣款了",
        "支付宝付不了款，总是提示错误",
        "为什么重复扣了两次钱？订单{oid}",
        "微信支付一直转圈，付不了{amount}元",
        "信用卡被拒了，但卡里明明有钱",
    ],
    "account_access": [
        "登录不上，一直提示密码错误",
        "忘记密码了，重置邮件收不到",
        "账号被锁了怎么办？",
        "验证码一直收不到，没法登录",
        "我的账户好像被别人登录了，有不是我下的单",
    ],
    "discount_code": [
        "优惠码{code}用不了",
        "优惠券显示已过期，但明明还没到期",
        "下单时忘了用优惠券，能补吗？订单{oid}",
        "满减活动为什么没生效？买的是{item}",
        "新人折扣怎么没有减？",
    ],
    "product_availability": [
        "{item}什么时候补货？",
        "{item}还有M码吗？",
        "黑色的{item}有现货吗？",
        "{item}显示缺货，还会再上架吗？",
        "这款{item}可以预订吗？",
    ],
    "warranty_claim": [
        "{item}用了{months}个月就坏了，在保修期内吗？",
        "保修怎么申请？{item}充不进电了",
        "{item}用了半年拉链坏了，能免费修吗？",
        "质保是一年还是两年？{item}现在有异响",
        "{item}售后维修怎么寄？",
    ],
    "loyalty_points": [
        "上次购物的积分没到账，{oid}",
        "我的积分怎么清零了？",
        "积分可以抵现吗？想买{item}",
        "会员等级为什么降了？",
        "生日礼券没收到",
    ],
}

MIXED: dict[str, list[str]] = {
    "shipping_status": [
        "我的order {oid} 还没到，tracking一直没更新",
        "package 到哪了？等了{days}天",
    ],
    "refund_request": ["请尽快refund，{item}质量太差", "refund 什么时候到账？{oid}"],
    "cancel_order": ["麻烦 cancel 一下 {oid}", "order 下错了，please cancel"],
    "change_address": ["address 写错了，要改成{city}", "能update一下收货地址吗？{oid}"],
    "invoice_request": ["需要 invoice，公司报销用 {oid}", "请发一个 receipt 给我 {oid}"],
    "return_item": ["想 return 这个{item}", "size不对，{item}要退货 how?"],
    "damaged_item": ["{item} 到了是 broken 的", "收到的{item} damaged 了"],
    "payment_failed": ["payment 一直 failed", "信用卡 declined 了怎么办，{amount}元"],
    "account_access": ["login 不上，password 重置也没用", "account 被 lock 了"],
    "discount_code": ["promo code {code} 无效", "coupon 用不了，{item}"],
    "product_availability": ["{item} 什么时候 restock？", "{item}还有 stock 吗？size L"],
    "warranty_claim": ["warranty 怎么申请？{item} 坏了", "{item} 用了{months}个月 stopped working"],
    "loyalty_points": ["我的 points 没到账", "member rewards 怎么用？{oid}"],
}

# (language, template, plausible labels - the first is the most likely reading).
AMBIGUOUS: list[tuple[str, str, list[str]]] = [
    (
        "en",
        "The {item} arrived broken and I just want my money back.",
        ["damaged_item", "refund_request"],
    ),
    ("en", "I was charged twice, please refund one of them.", ["payment_failed", "refund_request"]),
    ("en", "Can I cancel {oid} and get my money back?", ["cancel_order", "refund_request"]),
    (
        "en",
        "The {item} broke after a week, can I send it back?",
        ["damaged_item", "return_item", "warranty_claim"],
    ),
    (
        "en",
        "my package says delivered but it's not here, can I get reimbursed?",
        ["shipping_status", "refund_request"],
    ),
    (
        "en",
        "If {oid} hasn't left yet, change where it goes or just stop it.",
        ["change_address", "cancel_order"],
    ),
    ("zh", "收到就是坏的，直接退款吧，{item}", ["damaged_item", "refund_request"]),
    ("zh", "还没发货的话能改地址吗，不行就取消{oid}", ["change_address", "cancel_order"]),
    ("zh", "登录不上所以用不了积分", ["account_access", "loyalty_points"]),
    ("zh", "{item}用了一周就坏了，能退吗？", ["damaged_item", "return_item", "warranty_claim"]),
]

REPLIES: dict[str, dict[str, list[str]]] = {
    "shipping_status": {
        "en": [
            "I've checked {oid}: it's with the courier and should arrive within 2 business days.",
            "Your parcel is in transit; I've sent you the live tracking link by email.",
        ],
        "zh": [
            "已为您查询{oid}，包裹正在派送中，预计两个工作日内送达。",
            "包裹在运输途中，物流链接已发送到您的邮箱。",
        ],
    },
    "refund_request": {
        "en": [
            "I've issued the refund; it will reach your card in 3-5 business days.",
            "Your refund for {oid} is approved and on its way back to the original payment method.",
        ],
        "zh": ["退款已提交，3-5个工作日内退回原支付账户。", "{oid}的退款已审核通过，将原路退回。"],
    },
    "cancel_order": {
        "en": [
            "Done - {oid} is cancelled and you won't be charged.",
            "I've cancelled that purchase before it shipped.",
        ],
        "zh": ["已为您取消{oid}，不会产生扣款。", "订单已在发货前取消。"],
    },
    "change_address": {
        "en": [
            "I've updated the delivery address on {oid}.",
            "The courier now has your new address in {city}.",
        ],
        "zh": ["{oid}的收货地址已修改。", "已通知快递改派到您的新地址。"],
    },
    "invoice_request": {
        "en": [
            "I've emailed the invoice for {oid} as a PDF.",
            "You can download the invoice under Orders > Documents.",
        ],
        "zh": ["{oid}的电子发票已发送到您的邮箱。", "发票可在“我的订单-发票”中下载。"],
    },
    "return_item": {
        "en": [
            "I've emailed you a prepaid return label; drop the {item} at any post office.",
            "Your return is open: pack the {item} and use the label we sent.",
        ],
        "zh": [
            "退货申请已通过，请用我们发送的免费面单寄回{item}。",
            "已为您开通退货，寄回后尽快处理。",
        ],
    },
    "damaged_item": {
        "en": [
            "Sorry about that! A replacement {item} ships today, no need to return the damaged one.",
            "Please send a photo of the damage and we'll replace it right away.",
        ],
        "zh": [
            "非常抱歉，新的{item}今天为您补发，坏的无需寄回。",
            "请拍照发给我们，核实后立即补发。",
        ],
    },
    "payment_failed": {
        "en": [
            "The failed attempt was only an authorisation hold; it drops off in a few days.",
            "Please retry with another card; the declined charge was not captured.",
        ],
        "zh": [
            "失败的扣款只是预授权，几天内会自动退回。",
            "请换一张卡重试，被拒的款项不会实际扣除。",
        ],
    },
    "account_access": {
        "en": [
            "I've sent a fresh password-reset link; it's valid for 30 minutes.",
            "Your account is unlocked; please set a new password.",
        ],
        "zh": ["已重新发送重置密码链接，30分钟内有效。", "账号已解锁，请设置新密码。"],
    },
    "discount_code": {
        "en": [
            "I've applied the discount manually and refunded the difference.",
            "That code has expired, but here's a new one: THANKS10.",
        ],
        "zh": ["已为您手动补上优惠，差价将退回。", "该优惠码已过期，为您补发一张新券：THANKS10。"],
    },
    "product_availability": {
        "en": [
            "The {item} is due back in stock next week; I can notify you.",
            "It's available in the size you asked for - I've reserved one.",
        ],
        "zh": ["{item}预计下周到货，到货后通知您。", "您要的规格有现货，已为您预留。"],
    },
    "warranty_claim": {
        "en": [
            "Your {item} is under warranty; I've opened a repair ticket.",
            "That's covered - we'll send a courier to collect the {item}.",
        ],
        "zh": ["{item}在保修期内，已为您创建维修单。", "属于保修范围，快递员会上门取件。"],
    },
    "loyalty_points": {
        "en": [
            "I've added the missing points to your balance.",
            "Points post 14 days after delivery; yours are on the way.",
        ],
        "zh": ["缺少的积分已为您补上。", "积分在签收14天后到账，请耐心等待。"],
    },
}
