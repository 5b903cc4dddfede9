"""Chinese wording of the configuration's problems, for the admin editor's field messages.

hallq/config.py words each problem in English for the file's operator (`hallq check-config`); the
browser editor shows the same problem at its field in Chinese. Each entry is one problem kind of
hallq/config.py or hallq/schema.py: a full-match pattern of its English message and its Chinese, with
the message's values (\\1, \\2 …) kept. `chinese` answers None for a message no entry knows, so a
test can hold every kind to a translation.
"""

from __future__ import annotations

import re

_V = r"(.+?)"  # a value quoted in the message (a code, a number, a key path)

WORDS: list[tuple[str, str]] = [
    # pydantic's checks, as hallq/config.py _translate words them
    (r"required table \[(.+)\] is missing", r"缺少必填的表 [\1]"),
    (r"at least one \[\[(.+)\]\] is required", r"至少要有一个 [[\1]]"),
    (r"required key is missing", "必填"),
    (r'unknown key \(did you mean "(.+)"\?\)', r"不认识的项目（是不是想写 “\1”？）"),
    (r"unknown key", "不认识的项目"),
    (r'at least one session, e\.g\. .+', "至少要有一个时段，如 08:30-12:00"),
    (r"the hall must open on at least one day", "大厅每周至少要开放一天"),
    (r"must not be empty", "不能为空"),
    (r"weight (.+) is not one of (.+)", r"权重 \1 不是可选值（\2）之一"),
    (r"(.+) is not one of (.+)", r"\1 不是可选值（\2）之一"),
    (r"(.+?) \(0x(.+?)\) is outside the (.+) range 0x(.+?)\.\.0x(.+)", r"地址 \1（0x\2）超出 \3 的范围 0x\4–0x\5"),
    (r"must be more than (.+)", r"须大于 \1"),
    (r"must be at least (.+)", r"不能小于 \1"),
    (r"(.+) is outside (.+)\.\.(.+)", r"\1 超出范围 \2–\3"),
    (r"(.+) is not a picture's file name .+", r"\1 不是图片文件名（字母、数字、-、_、.，扩展名 .png、.jpg 或 .jpeg）"),
    (r"(.+) is not an ISO weekday 1\.\.7 .+", r"\1 不是星期几（1–7，1 = 星期一）"),
    (r"must be a window number", "须为窗口号"),
    (r"must be \[warning, yellow, red\]: three numbers, 0 or more", "须为三个不小于 0 的数：预警、黄牌、红牌"),
    (r"must be an array of tables .+", "须为若干张表（[[...]]）"),
    (r"must be an array", "须为列表"),
    (r"must be an integer", "须为整数"),
    (r"must be a number", "须为数字"),
    (r"must be a string", "须为文字"),
    (r"must be true or false", "须为是或否"),
    (r"must be a table", "须为一张表"),
    (r"(.+) is not written as expected", r"\1 的写法不对"),
    # hallq/schema.py: checks of one value
    (r"contains the control character (U\+.+?); .+", r"含有控制字符 \1；请写一行可打印的文字"),
    (r"must be a pair of times like .+", "时段格式为 08:30-12:00（时:分）"),
    (r"(.+) is not an http:// or https:// address .+", r"\1 不是群众手机能打开的 http:// 或 https:// 地址"),
    (r"the only placeholder is \{calls\} .+", "只能使用占位符 {calls}（过号前的呼叫次数）"),
    (r"(.+) is not a date like .+", r"\1 不是日期，格式如 2026-10-08"),
    (r"is not a valid template \((.+)\)", r"模板写法不对（\1）"),
    (r"unknown placeholder (\{.+?\}); it may use (.+)", r"不认识的占位符 \1；可用 \2"),
    (r"must be a JSON object, e\.g\. .+", '须为 JSON 对象，如 {"mobile": "{phone}", "content": "{text}"}'),
    (r"unknown time zone (.+) \(e\.g\. Asia/Shanghai\)", r"不认识的时区 \1（如 Asia/Shanghai）"),
    (r"character (.+) is not in GBK .+", r"字符 \1 不在 GBK 字库中（条屏和打印机无法显示）"),
    # hallq/config.py: what spans several keys
    (r"duplicate (.+?) (\S+) \(first at (.+)\)", r"\1 \2 重复（第一次在 \3）"),
    (r"the HTTP SMS platform's address .+", "短信网关为 http 时须填写短信平台地址（http:// 或 https://）"),
    (r"the SP code \(企业代码\) is required .+", "短信网关为 cmpp 时须填写企业代码（SP code）"),
    (r"the field mapping does not load: (.+)", r"字段映射文件无法读取：\1"),
    (r"unknown service or bundle", "没有这个事项或一件事"),
    (r"no file (.+)", r"没有文件 \1"),
    (r"a 承诺 case needs promised_days of at least 1", "承诺件的承诺办结时限至少 1 个工作日"),
    (r"a 即办 case is done on the spot: promised_days must be 0", "即办件当场办结：承诺办结时限须为 0"),
    (r"a bundle needs at least 2 steps", "一件事至少要有 2 个环节"),
    (r"unknown service (.+)", r"没有事项 \1"),
    (r"unknown service", "没有这个事项"),
    (r"(.+) is already a step of this bundle", r"\1 已是这件事的环节"),
    (r"a second complaint window \(the first is (.+)\)", r"只能有一个办不成事反映窗口（已有 \1）"),
    (r"a hall with (.+?) or more windows needs one complaint window .+", r"\1 个及以上窗口的大厅须设一个办不成事反映窗口"),
    (r"(.+) has no window serving it as primary or secondary", r"\1 没有主办或兼办窗口"),
    (r"(.+?) bytes in GBK; an LED strip takes at most (\d+) \(the default idle_text (.+), made from department: "
     r"set a shorter idle_text\)", r"GBK 编码 \1 字节，条屏最多 \2 字节（未填条屏空闲文字，按部门生成的 \3 太长：请填写较短的空闲文字）"),
    (r"(.+?) bytes in GBK; an LED strip takes at most (.+)", r"GBK 编码 \1 字节，条屏最多 \2 字节"),
    (r"a window needs at least one service .+", "窗口至少要办理一个事项（只有帮办代办窗口可以不设）"),
    (r"is a bundle; list its step services instead", "这是一件事：请改为列出它的各环节事项"),
    (r'unknown bus "(.+)"', r"没有总线 “\1”"),
    (r'bus "(.+)" is (.+); a (.+) needs a (.+) bus', r"总线 “\1” 是 \2；\3 须接在 \4 总线上"),
    (r'(0x.+?) on bus "(.+)" is already used by (.+)', r"总线 “\2” 上的地址 \1 已被 \3 使用"),
    (r"ends \((.+)\) before it starts \((.+)\)", r"结束时间（\1）早于开始时间（\2）"),
    (r"starts before the previous session ends \((.+)\)", r"开始时间早于上一时段的结束时间（\1）"),
    (r"a closed day has no sessions", "闭厅日不设时段"),
    (r"no window (.+)", r"没有 \1 号窗口"),
    (r"levels must be non-increasing \(days left\): warning, yellow, red", "预警、黄牌、红牌的剩余天数须依次不增"),
    (r"levels must be (.+): warning, yellow, red", "预警、黄牌、红牌须依次不减"),
    (r"missing priority class (.+) \(needed: (.+)\)", r"缺少优先级 \1（须有：\2）"),
    (r"ranks must order green < appointment < normal .+", "次序须为 green < appointment < normal（数小者先办）"),
    (r"(.+) is already used by (.+)", r"\1 已被 \2 使用"),
    (r"same token as (.+)", r"与 \1 的令牌相同"),
    (r'required for role "(.+)"', r"角色为 “\1” 时必填"),
    (r'only allowed for role "(.+)"', r"只有角色为 “\1” 时才可填写"),
    (r"no kiosk (.+)", r"没有取号机 \1"),
    (r"needs exactly one of token or token_env", "token 与 token_env 须填且只填一个"),
    (r"environment variable (.+) is not set", r"未设置环境变量 \1"),
    (r"the token is empty", "令牌为空"),
    (r"the token has spaces around it; .+", "令牌前后有空格：出示的令牌会去掉空格，永远对不上"),
    (r"the token contains a control character; .+", "令牌含有控制字符：HTTP 头无法携带"),
    # last: the general shapes
    (r"(.+) is not (.+)", r"\1 的写法不对（应为：\2）"),
    (r"must be (.+) or (.+)", r"须为 \1 或 \2"),
    (r"must be (.+)", r"须为 \1"),
]

_COMPILED = [(re.compile(pattern, re.DOTALL), words) for pattern, words in WORDS]


def chinese(message: str) -> str | None:
    """The problem in Chinese, or None when no entry knows its kind."""
    for pattern, words in _COMPILED:
        found = pattern.fullmatch(message)
        if found:
            return found.expand(words)
    return None
