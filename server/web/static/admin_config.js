// The hall's configuration editor. Every form is drawn from the hall's JSON schema
// (/api/v1/config/schema, from hallq/schema.py): labels, units, ranges, choices. Saving sends the
// whole hall to /api/v1/config; the server checks it like the TOML file and answers every problem
// with its key path, shown at its field.
"use strict";
(() => {
  const { api, el } = hallq;
  const CHOICES = {
    comprehensive: "无差别综合窗口", domain: "分领域综合窗口", complaint: "办不成事反映窗口", help: "帮办代办",
    primary: "主办", secondary: "兼办", backup: "后备", "即办": "即办件", "承诺": "承诺件",
    admin: "管理员", supervisor: "值班主任", kiosk: "取号机", caller: "呼叫守护进程", window: "窗口", display: "大屏",
    qb68: "QB-68 呼叫器/评价器总线", "ls-a0": "LS-A0 条屏总线",
    closed: "闭厅（节假日）", open: "调休上班", extended: "延时服务", staggered: "错时服务",
  };
  const TABS = [
    ["hall", "大厅与开放时间", ["hall", "hours"]], ["services", "事项", ["services"]],
    ["bundles", "一件事", ["bundles"]], ["windows", "窗口与技能", ["windows"]],
    ["rules", "规则与告警阈值", ["rules"]], ["more", "预约、短信、优先级与登录", ["appointments", "sms", "priorities", "sessions"]],
    ["devices", "总线与取号机", ["buses", "kiosks"]], ["staff", "工作人员（工号）", ["staff"]],
  ];
  const SECTION_NAMES = { hall: "大厅", hours: "开放时间", rules: "规则", appointments: "预约", sessions: "登录超时",
    priorities: "优先级", sms: "短信通知", services: "事项", bundles: "一件事", buses: "总线", windows: "窗口", kiosks: "取号机",
    staff: "工作人员", alerts: "电子监察阈值（预警 / 黄牌 / 红牌）" };
  let schema = null, doc = null, version = 0, tab = "hall", mediaFiles = [], mediaFolder = null, savedMedia = [], drawn = 0;
  const opened = new Set();  // cards (by path) the admin has open: kept open across re-renders
  const $ = (id) => document.getElementById(id);

  function resolve(node) {
    while (node && node.$ref) {  // what the field says of itself (title, default) wins over its type's
      const { $ref, ...own } = node;
      node = { ...schema.$defs[$ref.split("/").pop()], ...own };
    }
    if (node && node.anyOf) {  // an optional value: its type, with what the field says of itself (its label)
      const { anyOf, ...own } = node;
      return { ...resolve(anyOf.find((n) => n.type !== "null")), ...own, nullable: true };
    }
    return node || {};
  }
  function label(node, key) {
    const unit = node.unit ? `（${node.unit}）` : "";
    return (node.title || SECTION_NAMES[key] || key) + unit;
  }
  function defaults(node) {
    const out = {};
    for (const [key, sub] of Object.entries(node.properties || {})) {
      const r = resolve(sub);
      if ("default" in sub && sub.default !== null) out[key] = structuredClone(sub.default);
      else if (r.type === "array" && (node.required || []).includes(key)) out[key] = [];
    }
    return out;
  }
  function changed() { $("save-state").textContent = "有未保存的修改"; }

  // One input for one scalar (or list of scalars) value; `set` writes it back into the document.
  function input(node, value, path, set) {
    const r = resolve(node);
    const items = r.items ? resolve(r.items) : null;
    let field;
    if (r.enum) {
      field = el("select", { onchange: (e) => { set(r.type === "integer" ? Number(e.target.value) : e.target.value); changed(); } },
        r.enum.map((v) => el("option", { value: v, selected: v === value ? "selected" : null }, r.choices?.[v] || CHOICES[v] || String(v))));
    } else if (r.type === "boolean") {
      field = el("input", { type: "checkbox", checked: value ? "checked" : null, onchange: (e) => { set(e.target.checked); changed(); } });
    } else if (r.type === "integer" || r.type === "number") {
      field = el("input", { type: "number", step: r.type === "integer" ? "1" : "any", value: value ?? "",
        min: r.minimum ?? r.exclusiveMinimum, max: r.maximum,
        onchange: (e) => { set(e.target.value === "" ? (r.nullable ? null : undefined) : Number(e.target.value)); changed(); } });
    } else if (r.type === "array" && r.levels) {  // alert thresholds: warning, yellow, red
      field = el("span", { class: "levels" }, r.levels.map((name, i) => el("label", {}, name, " ",
        el("input", { type: "number", step: "any", min: r.minimum, max: r.maximum, value: (value || [])[i] ?? "", "data-path": `${path}[${i}]`,
          onchange: (e) => { const v = [...(value || [])]; v[i] = Number(e.target.value); value = v; set(v); changed(); } }))));
    } else if (r.type === "array" && r.files) {  // display pictures: chosen from the media folder, in turn order
      const chosen = [...(value || [])];
      const names = [...chosen, ...mediaFiles.filter((n) => !chosen.includes(n))];
      const running = savedMedia;  // what the display shows now: only others may be deleted
      field = el("span", { class: "choices" }, names.length ? names.map((name) => el("label", {},
        el("input", { type: "checkbox", value: name, checked: chosen.includes(name) ? "checked" : null, onchange: (e) => {
          const i = chosen.indexOf(name);
          if (e.target.checked && i < 0) chosen.push(name); else if (!e.target.checked && i >= 0) chosen.splice(i, 1);
          set([...chosen]); changed();
        } }), " ", name, mediaFiles.includes(name) ? "" : "（文件不在 media 文件夹中）",
        mediaFiles.includes(name) && !running.includes(name)
          ? el("button", { type: "button", class: "link", "data-delete": name, title: "从 media 文件夹删除", onclick: (e) => { e.preventDefault(); deletePicture(name); } }, "删除")
          : null, " ")) : mediaFolder ? "media 文件夹中还没有图片，请上传" : "本中心的配置不是从文件读取的，没有 media 文件夹");
      if (mediaFolder) {
        field.append(el("label", { class: "link" }, "上传图片（PNG/JPEG）",
          el("input", { type: "file", id: "media-upload", accept: "image/png,image/jpeg", hidden: "hidden",
            onchange: (e) => { if (e.target.files[0]) uploadPicture(e.target.files[0]); } })));
      }
    } else if (r.type === "array" && items && items.type === "array") {  // sessions: pairs of times
      field = el("textarea", { rows: 3, placeholder: "每行一个时段，如 08:30-12:00",
        onchange: (e) => { set(e.target.value.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => l.split(/\s*[-–~至]\s*/))); changed(); } },
        (value || []).map((p) => p.join("-")).join("\n"));
    } else if (r.type === "array" && items && (items.type === "integer" || items.type === "number")) {
      field = el("input", { type: "text", value: (value || []).join(", "), placeholder: "用逗号分隔",
        onchange: (e) => { set(e.target.value.split(/[,，\s]+/).filter(Boolean).map(Number)); changed(); } });
    } else if (r.type === "array") {  // a list of texts: one per line (materials, steps)
      field = el("textarea", { rows: Math.max(2, (value || []).length + 1), placeholder: "每行一项",
        onchange: (e) => { set(e.target.value.split("\n").map((l) => l.trim()).filter(Boolean)); changed(); } },
        (value || []).join("\n"));
    } else if (r.multiline) {
      field = el("textarea", { rows: 2, onchange: (e) => { set(e.target.value); changed(); } }, value ?? "");
    } else {
      field = el("input", { type: "text", value: value ?? "",
        onchange: (e) => { set(e.target.value === "" && r.nullable ? null : e.target.value); changed(); } });
    }
    field.setAttribute("data-path", path);
    return field;
  }

  // A window's skills: every matter of the hall with 不办理 / 主办 / 兼办 / 后备.
  function skills(value, path, set) {
    const weights = resolve(resolve(schema.$defs.WindowSection.properties.services).additionalProperties).enum;
    const table = el("table", { class: "list skills", "data-path": path }, el("tr", {}, el("th", {}, "事项"), el("th", {}, "权重")));
    for (const s of doc.services) {
      const select = el("select", { "data-path": `${path}.${s.code}`, onchange: (e) => {
        const next = { ...value };
        if (e.target.value) next[s.code] = e.target.value; else delete next[s.code];
        value = next; set(next); changed();
      } }, el("option", { value: "" }, "不办理"),
      weights.map((w) => el("option", { value: w, selected: value[s.code] === w ? "selected" : null }, CHOICES[w])));
      table.append(el("tr", {}, el("td", {}, `${s.code} ${s.name}`), el("td", {}, select)));
    }
    for (const code of Object.keys(value).filter((c) => !doc.services.some((s) => s.code === c))) {
      table.append(el("tr", {}, el("td", {}, code), el("td", { "data-path": `${path}.${code}` }, "（未知事项）")));
    }
    return table;
  }

  // Per-matter numbers (appointments.capacities): every matter of the hall, empty for "as the default".
  function perMatter(node, value, path, set) {
    const r = resolve(node);
    const each = resolve(r.additionalProperties);
    const table = el("table", { class: "list capacities", "data-path": path },
      el("tr", {}, el("th", {}, "事项"), el("th", {}, `${r.unit ? `人数（${r.unit}）` : "数值"}，空：按默认`)));
    for (const s of doc.services) {
      const field = el("input", { type: "number", step: "1", min: each.minimum, max: each.maximum, value: value[s.code] ?? "",
        "data-path": `${path}.${s.code}`, onchange: (e) => {
          const next = { ...value };
          if (e.target.value === "") delete next[s.code]; else next[s.code] = Number(e.target.value);
          value = next; set(next); changed();
        } });
      table.append(el("tr", {}, el("td", {}, `${s.code} ${s.name}`), el("td", {}, field)));
    }
    return table;
  }

  // A table (object) as labelled rows; nested tables (rules.alerts) as their own fieldset.
  function form(node, obj, path) {
    const r = resolve(node);
    const box = el("div", { class: "form", "data-path": path });
    for (const [key, sub] of Object.entries(r.properties || {})) {
      const sr = resolve(sub);
      const here = path ? `${path}.${key}` : key;
      if (sr.secret) continue;  // secrets stay in the file or the environment (the server keeps the running ones)
      if (sr.properties) {
        if (obj[key] === undefined) obj[key] = defaults(sr);
        box.append(el("fieldset", {}, el("legend", {}, label(sr, key)), form(sub, obj[key], here)));
        continue;
      }
      let field;
      if (sr.type === "array" && sr.items && resolve(sr.items).properties) {
        obj[key] = obj[key] || [];
        box.append(cards(sub, obj[key], here, sr.title || key, "h3"));
        continue;
      }
      if (sr.type === "object" && sr.additionalProperties && key === "services") {
        field = skills(obj[key] || {}, here, (v) => { obj[key] = v; });
      } else if (sr.type === "object" && sr.additionalProperties && ["integer", "number"].includes(resolve(sr.additionalProperties).type)) {
        field = perMatter(sub, obj[key] || {}, here, (v) => { obj[key] = v; });
      } else if (sr.properties === undefined && sr.type === "object") {  // a device or printer: { bus, address }
        field = el("span", {}, "—");
      } else {
        field = input(sub, obj[key], here, (v) => { if (v === undefined) delete obj[key]; else obj[key] = v; });
      }
      box.append(el("label", { class: "row" }, el("span", { class: "name" }, label(sr, key)), field, el("small", { class: "err" })));
    }
    return box;
  }

  // An optional sub-table (a window's keypad, a kiosk's printer): present or not, then its form.
  function optional(node, obj, key, path) {
    const r = resolve(node);
    const on = obj[key] !== undefined && obj[key] !== null;
    const box = el("fieldset", { class: "optional" }, el("legend", {},
      el("label", {}, el("input", { type: "checkbox", checked: on ? "checked" : null,
        onchange: (e) => { if (e.target.checked) obj[key] = defaults(r); else delete obj[key]; changed(); render(); } }), " ", label(r, key))));
    if (on) box.append(form(node, obj[key], path));
    return box;
  }

  function list(key) {
    doc[key] = doc[key] || [];
    return cards(schema.properties[key], doc[key], key, SECTION_NAMES[key], "h2");
  }

  // An array of tables (matters, windows, a day's special days …): one card each, add and remove.
  function cards(schemaNode, values, key, title, heading) {
    const node = resolve(schemaNode);
    const item = resolve(node.items);
    const box = el("section", { class: "items", "data-path": key }, el(heading, {}, `${title}（${values.length}）`));
    values.forEach((value, i) => {
      const path = `${key}[${i}]`;
      const name = value.name || value.code || value.number || value.id || value.date || `第${i + 1}项`;
      const card = el("details", { class: "card", "data-path": path, open: opened.has(path) ? "open" : null,
        ontoggle: (e) => { if (e.target.open) opened.add(path); else opened.delete(path); } },
        el("summary", {}, `${value.code || value.number || value.id || ""} ${name} ${value.note || ""}`));
      const plain = { ...item, properties: Object.fromEntries(Object.entries(item.properties)
        .filter(([k, v]) => !(resolve(v).properties && resolve(v).nullable))) };
      card.append(form(plain, value, path));
      for (const [k, v] of Object.entries(item.properties)) {
        if (resolve(v).properties && resolve(v).nullable) card.append(optional(v, value, k, `${path}.${k}`));
      }
      card.append(el("button", { type: "button", class: "remove", onclick: () => { values.splice(i, 1); changed(); render(); } }, "删除此项"));
      box.append(card);
    });
    box.append(el("button", { type: "button", class: "add", "data-add": key,
      onclick: () => { values.push(defaults(item)); opened.add(`${key}[${values.length - 1}]`); changed(); render(); } },
      `添加${title}`));
    return box;
  }

  function render() {
    const main = $("editor");
    main.replaceChildren();
    drawn += 1;  // a list still being fetched for an earlier render must not add itself too
    for (const [id, name] of TABS) {
      $(`tab-${id}`)?.classList.toggle("on", id === tab);
    }
    if (tab === "versions") { versions(main); return; }
    if (tab === "users") { users(main); return; }
    const [, , keys] = TABS.find(([id]) => id === tab);
    for (const key of keys) {
      const node = resolve(schema.properties[key]);
      if (node.type === "array") main.append(list(key));
      else {
        if (doc[key] === undefined) doc[key] = defaults(node);
        main.append(el("section", { "data-path": key }, el("h2", {}, SECTION_NAMES[key]), form(schema.properties[key], doc[key], key)));
      }
    }
  }

  async function versions(main) {
    const mine = drawn, data = await api("GET", "/api/v1/config/versions");
    if (mine !== drawn) return;
    const table = el("table", { class: "list", id: "versions" }, el("tr", {}, ["版本", "时间", "操作人", "说明", "变更", ""].map((h) => el("th", {}, h))));
    for (const v of data.versions) {
      table.append(el("tr", { "data-version": v.version }, el("td", {}, `第${v.version}版`), el("td", {}, v.at.slice(0, 19).replace("T", " ")),
        el("td", {}, v.actor), el("td", {}, v.note), el("td", { class: "small" }, el("pre", {}, v.diff.join("\n"))),
        el("td", {}, v.version === version ? "当前" : el("button", { type: "button", class: "restore", onclick: () => restore(v.version) }, "恢复此版"))));
    }
    main.append(el("section", {}, el("h2", {}, "版本记录"), table));
  }

  // Web users (not part of the configuration): add, reset a password, disable or enable, unlock.
  async function users(main) {
    const mine = drawn, data = await api("GET", "/api/v1/users");
    if (mine !== drawn) return;
    const act = async (path, body, done) => {
      try { await api("POST", path, body); $("message").textContent = done; render(); }
      catch (e) { $("message").textContent = `未完成：${e.data?.message || e.message}`; }
    };
    const table = el("table", { class: "list", id: "users" }, el("tr", {}, ["用户名", "角色", "工号", "状态", ""].map((h) => el("th", {}, h))));
    for (const u of data.users) {
      const name = encodeURIComponent(u.username);
      table.append(el("tr", { "data-user": u.username }, el("td", {}, u.username), el("td", {}, u.role_name), el("td", {}, u.staff || "—"),
        el("td", {}, u.active ? "启用" : "已停用", u.locked_minutes ? `，登录失败锁定中（还剩 ${u.locked_minutes} 分钟）` : ""),
        el("td", {},
          el("button", { type: "button", class: "reset", onclick: () => {
            const pw = prompt(`为 ${u.username} 设置新密码（至少 8 位）`);
            if (pw) act(`/api/v1/users/${name}/password`, { password: pw }, `已重置 ${u.username} 的密码，其登录已全部退出`);
          } }, "重置密码"), " ",
          el("button", { type: "button", class: "toggle", onclick: () => act(`/api/v1/users/${name}/active`, { active: !u.active },
            u.active ? `已停用 ${u.username}` : `已启用 ${u.username}`) }, u.active ? "停用" : "启用"), " ",
          u.locked_minutes ? el("button", { type: "button", class: "unlock", onclick: () => act(`/api/v1/users/${name}/unlock`, {}, `已解锁 ${u.username}`) }, "解锁") : null)));
    }
    const f = { username: el("input", { id: "new-username", placeholder: "用户名" }), password: el("input", { id: "new-password", type: "password", placeholder: "初始密码（至少 8 位）" }),
      role: el("select", { id: "new-role" }, [["clerk", "窗口人员"], ["supervisor", "值班长"], ["admin", "管理员"]].map(([v, n]) => el("option", { value: v }, n))),
      staff: el("select", { id: "new-staff" }, el("option", { value: "" }, "（无工号）"), doc.staff.map((s) => el("option", { value: s.number }, `${s.number} ${s.name}`))) };
    const add = el("button", { type: "button", id: "add-user", onclick: () => act("/api/v1/users", { username: f.username.value, password: f.password.value,
      role: f.role.value, staff: f.staff.value || null }, `已添加 ${f.username.value}`) }, "添加用户");
    main.append(el("section", {}, el("h2", {}, "网页用户"), table, el("p", { class: "savebar" }, f.username, f.password, f.role, f.staff, add)));
  }

  function clearErrors() {
    document.querySelectorAll(".bad").forEach((n) => n.classList.remove("bad"));
    document.querySelectorAll("small.err").forEach((n) => { n.textContent = ""; });
    $("problems").replaceChildren();
  }

  // Show each problem at its field: the nearest element whose data-path is the key or a parent of it.
  function showProblems(problems) {
    const list = $("problems");
    for (const p of problems) {
      const section = p.field.match(/^[a-z_]+/)?.[0];
      const owner = TABS.find(([, , keys]) => keys.includes(section));
      list.append(el("li", {}, el("a", { href: "#", onclick: (e) => { e.preventDefault(); if (owner) { tab = owner[0]; render(); showProblems(problems); } } },
        p.field), "：", p.message));
      let path = p.field, node = null;
      while (path && !(node = document.querySelector(`[data-path="${CSS.escape(path)}"]`))) path = path.replace(/(\.[^.[\]]+|\[[^\]]*\])$/, "") === path ? "" : path.replace(/(\.[^.[\]]+|\[[^\]]*\])$/, "");
      if (!node) continue;
      const card = node.closest("details");
      if (card) { card.setAttribute("open", "open"); opened.add(card.getAttribute("data-path")); }
      node.classList.add("bad");
      const holder = node.closest("label.row")?.querySelector("small.err");
      const words = p.message_zh || p.message;  // hallq/config_zh.py
      if (holder) holder.textContent = words; else node.after(el("small", { class: "err" }, words));
    }
  }

  async function load() {
    const [s, current, media] = await Promise.all([api("GET", "/api/v1/config/schema"), api("GET", "/api/v1/config"),
      api("GET", "/api/v1/config/media")]);
    schema = s; doc = current.hall; version = current.version; mediaFiles = media.files; mediaFolder = media.folder;
    savedMedia = [...(current.hall.hall?.media || [])];
    $("version").textContent = `当前第 ${version} 版`;
    $("save-state").textContent = "";
    render();
  }

  async function save() {
    clearErrors();
    $("message").textContent = "正在保存…";
    try {
      const v = await api("POST", "/api/v1/config", { hall: doc, note: $("note").value, based_on: version });
      $("message").textContent = v.diff.length ? `已保存为第 ${v.version} 版，立即生效（${v.diff.length} 处修改）` : "没有修改";
      $("note").value = "";
      await load();
    } catch (e) {
      $("message").textContent = e.status === 422 ? "有填写错误，未保存：请按提示修改" : `未保存：${e.data?.message || e.message}`;
      if (e.data?.problems) showProblems(e.data.problems);
      else if (e.data?.field) showProblems([{ field: e.data.field, message: e.data.message }]);
    }
  }

  // A display picture: the file itself is the body (not JSON), up to 8 MiB, so it gets more time.
  // The server keeps ASCII names only: any other is replaced by one made from the time.
  async function uploadPicture(file) {
    const ext = (file.name.match(/\.(png|jpe?g)$/i)?.[1] || (file.type === "image/jpeg" ? "jpg" : "png")).toLowerCase();
    const name = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*\.(png|jpg|jpeg)$/.test(file.name) && file.name.length <= 100 ? file.name
      : `picture-${new Date().toISOString().replace(/\D/g, "").slice(0, 14)}.${ext}`;
    $("message").textContent = `正在上传 ${name}…`;
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), 65000);
    try {
      const res = await fetch(`/api/v1/config/media/${encodeURIComponent(name)}`, { method: "POST", body: file,
        credentials: "same-origin", signal: ctrl.signal, headers: { "Accept": "application/json",
          "Content-Type": file.type || "application/octet-stream", "X-CSRF-Token": hallq.csrf,
          "Idempotency-Key": Array.from(crypto.getRandomValues(new Uint8Array(16)), (x) => x.toString(16).padStart(2, "0")).join(""), "Request-Timeout-Ms": "60000" } });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) throw Object.assign(new Error(data.message || `上传失败 ${res.status}`), { data });
      mediaFiles = data.files;
      $("message").textContent = `已上传 ${data.name}（${data.width}×${data.height}），勾选后保存即在大屏轮播`;
      render();
    } catch (e) {
      $("message").textContent = `未上传：${e.data?.message || e.message}`;
    } finally { clearTimeout(timer); }
  }

  async function deletePicture(name) {
    if (!confirm(`从 media 文件夹删除 ${name}？`)) return;
    try {
      const data = await api("POST", `/api/v1/config/media/${encodeURIComponent(name)}/delete`, {});
      mediaFiles = data.files;
      const chosen = doc.hall.media || [];
      if (chosen.includes(name)) { doc.hall.media = chosen.filter((n) => n !== name); changed(); }
      $("message").textContent = `已删除 ${name}`;
      render();
    } catch (e) { $("message").textContent = `未删除：${e.data?.message || e.message}`; }
  }

  async function restore(number) {
    if (!confirm(`恢复到第 ${number} 版？恢复后立即生效，并记为新的一版。`)) return;
    try {
      const v = await api("POST", `/api/v1/config/versions/${number}/restore`, {});
      $("message").textContent = `已恢复第 ${number} 版，记为第 ${v.version} 版`;
      await load();
      tab = "versions"; render();
    } catch (e) { $("message").textContent = `未恢复：${e.data?.message || e.message}`; }
  }

  async function importToml(file) {
    clearErrors();
    try {
      const v = await api("POST", "/api/v1/config/import", { toml: await file.text(), based_on: version });
      $("message").textContent = `已导入为第 ${v.version} 版，立即生效`;
      await load();
    } catch (e) {
      $("message").textContent = `未导入：${e.data?.message || e.message}`;
      for (const p of e.data?.problems || []) $("problems").append(el("li", {}, `第 ${p.line || "?"} 行 ${p.field}：${p.message_zh || p.message}`));
    }
  }

  for (const [id] of [...TABS, ["versions"], ["users"]]) {
    $(`tab-${id}`).addEventListener("click", (e) => { e.preventDefault(); tab = id; render(); });
  }
  $("save").addEventListener("click", save);
  $("reload").addEventListener("click", () => { clearErrors(); load(); });
  $("import").addEventListener("change", (e) => { if (e.target.files[0]) importToml(e.target.files[0]); });
  window.addEventListener("beforeunload", (e) => { if ($("save-state").textContent) e.preventDefault(); });
  load().catch((e) => { $("message").textContent = `无法读取配置：${e.message}`; });
})();
