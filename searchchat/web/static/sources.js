// searchchat Sources page: lists the indexed sources, adds files (drag and drop), sites, sitemaps and folders,
// re-indexes and removes them, and follows each indexing run's progress over server-sent events (SSE over
// fetch, so the API key can be sent). Everything from the server goes into the DOM as text.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const KEY_STORE = "searchchat.apiKey";  // shared with the search page
  const STRINGS = {
    en: {
      "nav.search": "Search", "nav.sources": "Sources",
      "html.h1": "Sources", "html.lead": "Add files and web sites; they become searchable as soon as their run finishes.",
      "html.add": "Add sources", "html.drop": "Drop files here, or click to choose",
      "html.dropKinds": "Markdown, HTML, text, PDF or JSONL; several at once.",
      "html.site": "Web site", "html.depth": "Depth", "html.maxPages": "Max pages", "html.crawl": "Crawl",
      "html.sitemap": "Sitemap", "html.addSitemap": "Index sitemap", "html.folder": "Folder on the server",
      "html.addFolder": "Index folder", "html.runs": "Indexing runs", "html.indexed": "Indexed",
      "html.source": "Source", "html.documents": "Documents", "html.chunks": "Chunks",
      "html.lastIndexed": "Last indexed", "html.lastRun": "Last run", "html.actions": "Actions",
      "html.empty": "Nothing is indexed yet: add files or a site above.",
      needsKey: "This server needs an API key to change sources.", keyPlaceholder: "API key", saveKey: "Save",
      reindex: "Re-index", remove: "Remove", confirmRemove: "Remove?", uploaded: "uploaded",
      queued: "queued", running: "running", done: "done", failed: "failed",
      kind_upload: "Upload", kind_web: "Web site", kind_sitemap: "Sitemap", kind_folder: "Folder", kind_reindex: "Re-index",
      progress: "{pages} pages · {chunks} chunks", of: "{pages} of {total} pages · {chunks} chunks",
      eta: "about {s} s left", skipped: "Skipped: {list}", summary: "+{added} new, {updated} changed, {unchanged} unchanged, -{removed} removed",
      uploading: "Uploading {n} file(s)…", failedTo: "Could not start: {detail}", unreachable: "Could not reach the server.",
      loadFailed: "Could not load the sources.", removed: "Removed {source}.", never: "never",
    },
    zh: {
      "nav.search": "搜索", "nav.sources": "来源",
      "html.h1": "来源", "html.lead": "添加文件和网站；索引完成后即可检索。",
      "html.add": "添加来源", "html.drop": "把文件拖到这里，或点击选择",
      "html.dropKinds": "Markdown、HTML、文本、PDF 或 JSONL；可一次多个。",
      "html.site": "网站", "html.depth": "深度", "html.maxPages": "最多页数", "html.crawl": "抓取",
      "html.sitemap": "站点地图", "html.addSitemap": "索引站点地图", "html.folder": "服务器上的文件夹",
      "html.addFolder": "索引文件夹", "html.runs": "索引任务", "html.indexed": "已索引",
      "html.source": "来源", "html.documents": "文档", "html.chunks": "段落",
      "html.lastIndexed": "上次索引", "html.lastRun": "上次任务", "html.actions": "操作",
      "html.empty": "还没有索引任何内容：请在上面添加文件或网站。",
      needsKey: "修改来源需要此服务器的 API 密钥。", keyPlaceholder: "API 密钥", saveKey: "保存",
      reindex: "重新索引", remove: "移除", confirmRemove: "确定移除？", uploaded: "已上传",
      queued: "排队中", running: "进行中", done: "完成", failed: "失败",
      kind_upload: "上传", kind_web: "网站", kind_sitemap: "站点地图", kind_folder: "文件夹", kind_reindex: "重新索引",
      progress: "{pages} 页 · {chunks} 个段落", of: "{pages} / {total} 页 · {chunks} 个段落",
      eta: "约剩 {s} 秒", skipped: "跳过：{list}", summary: "新增 {added}，更改 {updated}，未变 {unchanged}，移除 {removed}",
      uploading: "正在上传 {n} 个文件…", failedTo: "无法开始：{detail}", unreachable: "无法连接服务器。",
      loadFailed: "无法加载来源。", removed: "已移除 {source}。", never: "从未",
    },
  };
  const LANG = (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
  const tr = (key, vars = {}) =>
    (STRINGS[LANG][key] ?? STRINGS.en[key]).replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
  document.documentElement.lang = LANG === "zh" ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = tr(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = tr(node.dataset.i18nPlaceholder);

  const watched = new Map();  // job id -> its card

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function headers(json = true) {
    const h = json ? { "Content-Type": "application/json" } : {};
    const key = localStorage.getItem(KEY_STORE);
    if (key) h["X-API-Key"] = key;
    return h;
  }

  async function problem(res) {
    if (res.status === 401) $("key-box").hidden = false;
    try { return (await res.json()).detail || `HTTP ${res.status}`; } catch { return `HTTP ${res.status}`; }
  }

  function showError(text) {
    const box = $("add-error");
    box.textContent = text || "";
    box.hidden = !text;
  }

  const when = (iso) => (iso ? new Date(iso).toLocaleString(LANG === "zh" ? "zh-CN" : undefined) : tr("never"));
  const fileName = (source) => source.split(/[\\/]/).pop();

  // -- the indexed sources ---------------------------------------------------------------------------------
  async function loadSources() {
    let rows = [];
    try {
      const res = await fetch("/api/sources", { headers: headers() });
      if (res.ok) rows = await res.json();
      else if (res.status !== 503) { showError(tr("loadFailed") + " " + (await problem(res))); return; }
    } catch { showError(tr("unreachable")); return; }
    const body = $("sources");
    body.replaceChildren(...rows.map(sourceRow));
    $("sources-empty").hidden = rows.length > 0;
  }

  function sourceRow(row) {
    const tr_ = el("tr", "source-row");
    tr_.dataset.source = row.source;
    const name = el("td", "source-name");
    const label = row.uploaded ? fileName(row.source) : row.source;
    if (/^https?:\/\//i.test(row.source)) {
      const a = el("a", null, label);
      a.href = row.source; a.target = "_blank"; a.rel = "noopener noreferrer";
      name.append(a);
    } else name.append(el("span", "path", label));
    name.title = row.source;
    name.append(el("span", "badge", row.uploaded ? tr("uploaded") : row.kind || ""));
    const run = el("td", "last-run");
    if (row.last_run) {
      const state = row.last_run.state;
      run.append(el("span", `state ${state}`, tr(state)));
      if (row.last_run.error) run.title = row.last_run.error.detail;
    }
    const actions = el("td", "actions");
    const again = el("button", "btn small reindex", tr("reindex"));
    again.type = "button";
    again.addEventListener("click", () => reindex(row.source, again));
    const drop = el("button", "btn small danger remove", tr("remove"));
    drop.type = "button";
    drop.addEventListener("click", () => removeSource(row.source, drop));
    actions.append(again, drop);
    tr_.append(name, el("td", "count", row.documents), el("td", "count", row.chunks), el("td", null, when(row.last_indexed)),
               run, actions);
    return tr_;
  }

  async function reindex(source, button) {
    button.disabled = true;
    try {
      const res = await fetch("/api/sources/reindex", { method: "POST", headers: headers(), body: JSON.stringify({ source }) });
      if (!res.ok) { showError(tr("failedTo", { detail: await problem(res) })); return; }
      showError("");
      watch(await res.json());
    } catch { showError(tr("unreachable")); } finally { button.disabled = false; }
  }

  async function removeSource(source, button) {
    if (!button.classList.contains("confirm")) {  // two clicks: the first asks
      button.classList.add("confirm");
      button.textContent = tr("confirmRemove");
      setTimeout(() => { button.classList.remove("confirm"); button.textContent = tr("remove"); }, 4000);
      return;
    }
    button.disabled = true;
    try {
      const res = await fetch("/api/sources?source=" + encodeURIComponent(source), { method: "DELETE", headers: headers() });
      if (!res.ok) { showError(tr("failedTo", { detail: await problem(res) })); button.disabled = false; return; }
      showError("");
      await loadSources();
    } catch { showError(tr("unreachable")); button.disabled = false; }
  }

  // -- adding ------------------------------------------------------------------------------------------------
  async function start(url, init) {
    try {
      const res = await fetch(url, init);
      if (!res.ok) { showError(tr("failedTo", { detail: await problem(res) })); return null; }
      showError("");
      return await res.json();
    } catch { showError(tr("unreachable")); return null; }
  }

  async function upload(fileList) {
    const list = [...fileList];
    if (!list.length) return;
    const data = new FormData();
    for (const f of list) data.append("files", f, f.name);
    showError("");
    const note = $("dropzone").querySelector("span");
    note.textContent = tr("uploading", { n: list.length });
    const out = await start("/api/uploads", { method: "POST", headers: headers(false), body: data });
    note.textContent = tr("html.dropKinds");
    $("file-input").value = "";
    if (out) watch(out.job);
  }

  function addSource(body) {
    return start("/api/sources", { method: "POST", headers: headers(), body: JSON.stringify(body) }).then((job) => {
      if (job) watch(job);
      return job;
    });
  }

  const zone = $("dropzone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    upload(e.dataTransfer.files);
  });
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("file-input").click(); } });
  $("file-input").addEventListener("change", (e) => upload(e.target.files));
  $("site-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const depth = parseInt($("site-depth").value, 10), max = parseInt($("site-max").value, 10);
    const body = { url: $("site-url").value.trim() };
    if (Number.isFinite(depth)) body.depth = depth;
    if (Number.isFinite(max)) body.max_pages = max;
    if (await addSource(body)) $("site-url").value = "";
  });
  $("sitemap-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (await addSource({ sitemap: $("sitemap-url").value.trim() })) $("sitemap-url").value = "";
  });
  $("folder-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (await addSource({ folder: $("folder-path").value.trim() })) $("folder-path").value = "";
  });
  $("key-save").addEventListener("click", () => {
    const value = $("key").value.trim();
    if (value) localStorage.setItem(KEY_STORE, value); else localStorage.removeItem(KEY_STORE);
    $("key-box").hidden = true;
    loadSources();
  });

  // -- runs and their progress ---------------------------------------------------------------------------------
  function runCard(job) {
    const card = el("li", "run");
    card.dataset.job = job.id;
    const head = el("div", "run-head");
    const title = el("span", "run-title");
    const state = el("span", "state");
    head.append(title, state);
    const bar = el("div", "bar");
    bar.append(el("div", "fill"));
    card.append(head, bar, el("div", "run-stats"), el("div", "run-skips"), el("ul", "run-notes"), el("div", "run-error"));
    $("runs").prepend(card);
    $("runs-section").hidden = false;
    return card;
  }

  function render(card, job) {
    const names = job.sources.map((s) => (/^https?:/i.test(s) ? s : fileName(s)));
    card.querySelector(".run-title").textContent = `${tr("kind_" + job.kind)}: ${names.join(", ")}`;
    const state = card.querySelector(".state");
    state.className = `state ${job.state}`;
    state.textContent = tr(job.state);
    card.dataset.state = job.state;
    const fraction = job.state === "done" ? 1 : job.total ? Math.min(job.pages / job.total, 1) : 0;
    const fill = card.querySelector(".fill");
    fill.style.width = `${Math.round(fraction * 100)}%`;
    card.querySelector(".bar").classList.toggle("indeterminate", job.state === "running" && !job.total);
    let stats = job.total && job.state !== "done" ? tr("of", job) : tr("progress", job);
    if (job.eta_seconds !== null && job.eta_seconds !== undefined && job.state === "running") {
      stats += " · " + tr("eta", { s: Math.ceil(job.eta_seconds) });
    }
    if (job.summary) {
      const s = job.summary;
      stats += " · " + tr("summary", { added: s.documents_added, updated: s.documents_updated,
                                       unchanged: s.documents_unchanged, removed: s.documents_removed });
    }
    card.querySelector(".run-stats").textContent = stats;
    const skips = Object.entries(job.skipped || {}).map(([k, v]) => `${k} ${v}`).join(", ");
    card.querySelector(".run-skips").textContent = skips ? tr("skipped", { list: skips }) : "";
    card.querySelector(".run-notes").replaceChildren(...(job.notes || []).slice(-5).map((n) => el("li", null, n)));
    card.querySelector(".run-error").textContent = job.error ? job.error.detail : "";
  }

  async function watch(job) {
    if (watched.has(job.id)) return;
    const card = runCard(job);
    watched.set(job.id, card);
    render(card, job);
    if (job.state === "done" || job.state === "failed") return;
    try {
      const res = await fetch(`/api/jobs/${encodeURIComponent(job.id)}/events`, { headers: headers() });
      if (!res.ok || !res.body) throw new Error(String(res.status));
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let name = "message", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) name = line.slice(6).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trimStart();
          }
          if (!data) continue;
          const latest = JSON.parse(data);
          render(card, latest);
          if (name === "done" || name === "failed") { await loadSources(); return; }
        }
      }
    } catch {
      poll(job.id, card);  // no stream (a proxy that buffers): ask now and then instead
    }
  }

  async function poll(id, card) {
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      try {
        const res = await fetch(`/api/jobs/${encodeURIComponent(id)}`, { headers: headers() });
        if (!res.ok) return;
        const job = await res.json();
        render(card, job);
        if (job.state === "done" || job.state === "failed") { await loadSources(); return; }
      } catch { /* try again */ }
    }
  }

  async function loadRuns() {
    try {
      const res = await fetch("/api/jobs", { headers: headers() });
      if (!res.ok) return;
      const jobs = await res.json();
      const recent = jobs.filter((j) => j.state === "queued" || j.state === "running").concat(
        jobs.filter((j) => j.state === "done" || j.state === "failed").slice(0, 3));
      for (const job of recent.reverse()) watch(job);
    } catch { /* the list below says so */ }
  }

  loadSources();
  loadRuns();
})();
