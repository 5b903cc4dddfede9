// 找回我的号: today's ticket code + the phone's last 4 digits reopen that one ticket's page.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  // the ticket page remembers the last ticket opened on this phone (this device only); it is offered
  // on the hall's day it was issued (the page says the hall's date: the phone's is in its own zone)
  try {
    const saved = JSON.parse(localStorage.getItem("hallq-ticket") || "null");
    if (saved && saved.day === $("f-saved").dataset.hallDay && /^[A-Za-z0-9_-]+$/.test(saved.id)) {
      $("f-saved-link").textContent = saved.code;
      $("f-saved-link").href = `/t/${saved.id}`;
      $("f-saved").hidden = false;
    }
  } catch (e) { /* no storage: the form still works */ }
  $("find-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = $("f-error");
    err.hidden = true;
    try {
      const res = await fetch("/api/v1/tickets/find", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ code: $("f-code").value.trim(), phone_last4: $("f-phone").value.trim() }),
      });
      const data = await res.json().catch(() => ({}));
      if (res.ok) { location.href = data.page; return; }
      err.textContent = res.status === 429 ? "查询过于频繁，请稍后再试"
        : res.status === 404 ? "未找到该号码，请核对号码和手机尾号" : "填写有误，请核对后重试";
    } catch (e) { err.textContent = "网络异常，请稍后再试"; }
    err.hidden = false;
  });
})();
