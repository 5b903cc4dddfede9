"""The admin editor's field messages are Chinese for every problem kind of the hall's checks.

Every message hallq/config.py and hallq/schema.py can give is read from their source (the message
argument of each `self.add`, `problem(...)` and `_translate` return), its values filled in, and
hallq/config_zh.py must word it in Chinese; a new kind without a translation fails here.
"""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path

import pytest
from hallfactory import small_hall
from liveserver import serve_app

from hallq.client import ApiClient, ApiError
from hallq.config_zh import chinese
from server.app import create_app

ROOT = Path(__file__).resolve().parent.parent
CJK = re.compile(r"[\u4e00-\u9fff]")


def _sample(node: ast.AST, names: dict[str, str]) -> str | None:
    """A message template as one concrete message (each {value} becomes S101)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "S101" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _sample(node.left, names), _sample(node.right, names)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.Name):
        return names.get(node.id)
    return None


def messages(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    names = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
             for t in n.targets if isinstance(t, ast.Name) and isinstance(n.value, ast.Constant)
             and isinstance(n.value.value, str)}
    found = []
    for node in ast.walk(tree):
        arg = None
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr == "add" and len(node.args) == 2:
                arg = node.args[1]
            elif isinstance(f, ast.Name) and f.id == "problem" and node.args:
                arg = node.args[0]
        elif (isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple) and len(node.value.elts) == 2
              and isinstance(node.value.elts[0], ast.Name) and node.value.elts[0].id == "path"):
            arg = node.value.elts[1]
        if arg is None or (isinstance(arg, ast.Subscript)):  # err["msg"]: pydantic's own, reworded above
            continue
        if isinstance(arg, ast.IfExp):
            found += [(node.lineno, s) for s in (_sample(arg.body, names), _sample(arg.orelse, names)) if s]
            continue
        if isinstance(arg, ast.Name) and arg.id not in names:
            continue  # a message made elsewhere (schema.gbk_trouble): in OTHER_MESSAGES
        sample = _sample(arg, names)
        assert sample is not None, f"{path.name}:{node.lineno}: a message this test cannot read"
        found.append((node.lineno, sample))
    return found


OTHER_MESSAGES = ["character 'S101' is not in GBK (LED strips and printers cannot show it)"]


def test_messages_made_elsewhere_too():
    assert all(CJK.search(chinese(m) or "") for m in OTHER_MESSAGES)


@pytest.mark.parametrize("module", ["hallq/config.py", "hallq/schema.py"])
def test_every_problem_kind_has_its_chinese_words(module):
    found = messages(ROOT / module)
    assert len(found) > (50 if module.endswith("config.py") else 8)  # the reading found them all
    missing = [(line, m) for line, m in found if not (chinese(m) and CJK.search(chinese(m)))]
    assert missing == []


def test_the_editor_gets_each_problem_in_chinese_at_its_field(tmp_path):
    app = create_app(small_hall(all_day=True), tmp_path / "zh.db", supervise=False)
    with serve_app(app) as base:
        admin = ApiClient(base, "t-admin")
        current = admin.get("/config")
        hall = copy.deepcopy(current["hall"])
        hall["services"][0]["promised_days"] = 400
        hall["windows"][0]["departmnet"] = "x"
        with pytest.raises(ApiError) as err:
            admin.post("/config", {"hall": hall, "based_on": current["version"]})
    problems = {p["field"]: p for p in err.value.body["problems"]}
    assert problems["windows[0].departmnet"]["message_zh"] == "不认识的项目（是不是想写 “department”？）"
    assert CJK.search(problems["services[0].promised_days"]["message_zh"])
    assert problems["services[0].promised_days"]["message"].endswith("is outside 1..365")
