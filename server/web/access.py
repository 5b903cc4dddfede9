"""Who may open a page: signed-in users by role; anyone else is sent to the sign-in page."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import g, redirect, request, url_for

from ..auth import session_user
from ..errors import Forbidden
from ..users import User

# Refusal codes in the words a clerk or supervisor reads; the API keeps its English messages.
CHINESE = {
    "csrf": "页面已过期或缺少安全令牌，请刷新页面后重试。",
    "forbidden": "您无权进行此操作。",
    "unauthorized": "请先登录。",
    "not_found": "没有找到要访问的内容。",
    "wrong_state": "案件当前状态不能进行这一步。",
    "invalid": "填写的内容有误，请检查后重试。",
    "calendar_gap": "节假日数据缺失，无法计算工作日期限，请升级 chinese-calendar。",
    "storage_full": "服务器磁盘已满，本次操作未保存。请通知管理员清理磁盘后重试。",
    "storage_busy": "数据库正被其他程序占用，本次操作未保存，请稍后重试。",
    "storage_io_error": "数据库读写出错，本次操作未保存，请通知管理员。",
    "storage_read_only": "数据库当前只读，本次操作未保存，请通知管理员。",
    "storage_corrupt": "数据库文件已损坏，本次操作未保存，请立即通知管理员。",
    "storage_unavailable": "无法打开数据库，本次操作未保存，请通知管理员。",
    "storage_error": "数据库出错，本次操作未保存，请通知管理员。",
    "expired": "系统繁忙，操作未执行，请稍后重试。",
    "slot_full": "该时段已约满，请选择其他时段。",
    "too_many_lookups": "操作过于频繁，请稍后再试。",
}


def chinese(exc) -> str:
    """A refusal in Chinese for a page; the original message is kept when it is Chinese already."""
    if not exc.message.isascii() and exc.code in ("forbidden", "not_found"):
        return exc.message
    return CHINESE.get(exc.code, exc.message)


HOME = {"admin": "board.show", "supervisor": "board.show", "clerk": "clerk.show"}


def page_user() -> User | None:
    return session_user()


def login_required(*roles: str) -> Callable:
    """Decorator for pages: a signed-in user of one of `roles`, else sign-in (or 403 for a wrong role)."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = session_user()
            if user is None:
                return redirect(url_for("signin.login", next=request.full_path.rstrip("?")))
            if roles and user.role not in roles:
                raise Forbidden(f"{user.role_name}无权打开此页面", field="role")
            g.user = user
            return view(*args, **kwargs)

        return wrapper

    return decorate
