// searchchat search page: streams answers from POST /ask/stream (SSE over fetch) and renders them with
// citation chips and source cards. Every piece of indexed text goes into the DOM as text (textContent,
// text nodes); nothing from the server is ever parsed as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("search-form"), input = $("q"), thread = $("thread");
  const followForm = $("followup-form"), followInput = $("followup"), stopBtn = $("stop");
  const KEY_STORE = "searchchat.apiKey";
  const STRICT_STORE = "searchchat.strict";
  const strictBox = $("strict");  // "Only answer when sure": sent as {"strict": true}, remembered
  strictBox.checked = localStorage.getItem(STRICT_STORE) === "1";
  strictBox.addEventListener("change", () => localStorage.setItem(STRICT_STORE, strictBox.checked ? "1" : "0"));
  const LIST = /^\s*(?:[-*•]|\d+[.)])\s+/;
  const INLINE = /\[(\d+)\]|\*\*([^*\n]+)\*\*|`([^`\n]+)`/g;
  const HL_MAX = 1000;  // the longest quote sent to the reader (/view?hl=), which marks it
  // The page's own words, in the browser's language (English, or Chinese for zh-*); answers come in the
  // question's language from the server.
  const STRINGS = {
    en: {
      no_relevant_passage: "No passage matched the question closely.",
      not_answerable: "The answer check found no passage that clearly holds the answer.",
      unsupported: "The drafted answer did not hold up against the sources.",
      notFound: "Not found in the indexed documents.",
      noneAnswers: "No sentence of the {n} passages searched was found to answer this. Try rephrasing, or index more sources.",
      closest: "Closest passage, not confirmed as an answer",
      nothingMatched: "Nothing in the index matched. Try other words, or index more sources.",
      quoted: "Quoted from the sources", topPassage: "Top passage",
      quotedTitle: "This answer is the sources' own sentences, not one written by the language model.",
      sources: "Sources", answer: "Answer", searching: "Searching the index…", writing: "Writing the answer…",
      searchedFor: "Searched for: ", stopped: "Stopped.", unsupportedTitle: "The cited source does not clearly support this sentence.",
      serverFailed: "The server failed while answering.", unreachable: "Could not reach the server.",
      checkRunning: "Check that searchchat is running, then try again.", incomplete: "The answer stopped before it was complete.",
      tryAgain: "Try again", saveRetry: "Save and retry", needsKey: "This server needs an API key.",
      noIndex: "No index yet.", runIndex: "Run `searchchat index SOURCE...` on the server, then try again.",
      busy: "The server is busy answering other questions.", tryIn: "Try again in about {s} s.",
      httpError: "The server could not answer (HTTP {status}).",
      stats: "{docs} documents · {chunks} passages · {sources} source{plural} · indexed {ago}",
      hero: "Searching {docs} documents and {chunks} passages",
      statsNoIndex: "No index yet — add sources on the Sources page, or run `searchchat index SOURCE...`",
      heroNoIndex: "No index yet — add files or a site on the Sources page (/sources), or run `searchchat index SOURCE...`.",
      statsKey: "Index statistics need the API key", statsUnavailable: "Index statistics unavailable",
      serverUnreachable: "Server unreachable", never: "never", justNow: "just now", minAgo: "{n} min ago",
      hAgo: "{n} h ago", daysAgo: "{n} days ago",
      "html.h1": "Ask your documents",
      "html.lead": "Answers written from the pages and files you indexed, with every claim linked to its source.",
      "html.q": "Ask anything…", "html.followup": "Ask a follow-up…", "html.stop": "Stop",
      "html.loading": "Loading index statistics…", "html.strict": "Only answer when sure",
      "html.newChat": "New conversation", "html.conversations": "Conversations",
      "html.noConversations": "Your conversations will appear here.", "html.share": "Share",
      rename: "Rename", remove: "Delete", confirmRemove: "Delete?", untitled: "Untitled",
      good: "Good answer", bad: "Bad answer", whyBad: "What was wrong?", thanks: "Thanks for the feedback.",
      wrong_citation: "Wrong citation", wrong_answer: "Wrong answer",
      should_have_answered: "Should have answered", should_not_have_answered: "Should not have answered",
      feedbackFailed: "Could not save the feedback.", feedbackKey: "Feedback needs the API key.",
      removedSource: "Removed from the index since this answer", removedBadge: "removed",
      shareLink: "Anyone with this link can read this conversation.", stopSharing: "Stop sharing",
      shareFailed: "Could not make a share link.", noConversation: "This conversation does not exist (any more).",
      loadFailed: "Could not load the conversation.", "html.sources": "Sources",
    },
    zh: {
      no_relevant_passage: "没有与问题足够接近的段落。",
      not_answerable: "答案检查没有找到明确包含答案的段落。",
      unsupported: "草拟的回答与来源不符。",
      notFound: "已索引的文档中没有找到答案。",
      noneAnswers: "在检索到的 {n} 个段落中没有找到回答这个问题的句子。请换个说法，或者索引更多来源。",
      closest: "最接近的段落（未确认是答案）",
      nothingMatched: "索引中没有匹配的内容。请换些词语，或者索引更多来源。",
      quoted: "摘自来源原文", topPassage: "最相关的段落",
      quotedTitle: "这个回答是来源中的原句，不是语言模型写的。",
      sources: "来源", answer: "回答", searching: "正在检索索引…", writing: "正在撰写回答…",
      searchedFor: "检索词：", stopped: "已停止。", unsupportedTitle: "所引用的来源没有明确支持这句话。",
      serverFailed: "服务器在回答时出错。", unreachable: "无法连接服务器。",
      checkRunning: "请确认 searchchat 正在运行，然后重试。", incomplete: "回答在完成之前中断了。",
      tryAgain: "重试", saveRetry: "保存并重试", needsKey: "此服务器需要 API 密钥。",
      noIndex: "还没有索引。", runIndex: "请在服务器上运行 `searchchat index SOURCE...`，然后重试。",
      busy: "服务器正忙于回答其他问题。", tryIn: "请约 {s} 秒后重试。",
      httpError: "服务器无法回答（HTTP {status}）。",
      stats: "{docs} 篇文档 · {chunks} 个段落 · {sources} 个来源 · 索引于{ago}",
      hero: "在 {docs} 篇文档、{chunks} 个段落中检索",
      statsNoIndex: "还没有索引——在“来源”页添加，或运行 `searchchat index SOURCE...`",
      heroNoIndex: "还没有索引——在“来源”页（/sources）添加文件或网站，或运行 `searchchat index SOURCE...`。",
      statsKey: "索引统计需要 API 密钥", statsUnavailable: "无法获取索引统计",
      serverUnreachable: "无法连接服务器", never: "从未", justNow: "刚刚", minAgo: "{n} 分钟前",
      hAgo: "{n} 小时前", daysAgo: "{n} 天前",
      "html.h1": "向你的文档提问",
      "html.lead": "回答来自你索引的网页和文件，每一句都链接到它的来源。",
      "html.q": "问点什么…", "html.followup": "继续追问…", "html.stop": "停止",
      "html.loading": "正在加载索引统计…", "html.strict": "只在有把握时回答",
      "html.newChat": "新对话", "html.conversations": "对话", "html.noConversations": "你的对话会显示在这里。",
      "html.share": "分享",
      rename: "重命名", remove: "删除", confirmRemove: "确定删除？", untitled: "未命名",
      good: "回答很好", bad: "回答不好", whyBad: "哪里不对？", thanks: "感谢你的反馈。",
      wrong_citation: "引用有误", wrong_answer: "回答有误",
      should_have_answered: "本应回答", should_not_have_answered: "不应回答",
      feedbackFailed: "无法保存反馈。", feedbackKey: "反馈需要 API 密钥。",
      removedSource: "此回答之后，该文档已从索引中移除", removedBadge: "已移除",
      shareLink: "任何拿到此链接的人都能阅读这段对话。", stopSharing: "停止分享",
      shareFailed: "无法生成分享链接。", noConversation: "这段对话不存在（或已删除）。",
      loadFailed: "无法加载这段对话。", "html.sources": "来源",
    },
  };
  const LANG = (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
  const tr = (key, vars = {}) =>
    (STRINGS[LANG][key] ?? STRINGS.en[key]).replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
  const REASONS = { no_relevant_passage: tr("no_relevant_passage"), not_answerable: tr("not_answerable"),
                    unsupported: tr("unsupported") };
  document.documentElement.lang = LANG === "zh" ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = tr(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = tr(node.dataset.i18nPlaceholder);
  for (const node of document.querySelectorAll("[data-i18n-title]")) {
    node.title = tr(node.dataset.i18nTitle);
    node.setAttribute("aria-label", node.title);
  }
  const FEEDBACK_REASONS = ["wrong_citation", "wrong_answer", "should_have_answered", "should_not_have_answered"];

  let history = [];        // [{role, content}] of finished turns, sent with follow-ups when not stored
  let conversationId = null;  // the stored conversation this thread continues (the server keeps its turns)
  let controller = null;   // AbortController of the answer being streamed
  let turnCount = 0;

  // -- small DOM helpers ------------------------------------------------------------------------------
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svgIcon(paths) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    for (const d of paths) {
      const p = document.createElementNS(ns, "path");
      p.setAttribute("d", d);
      svg.append(p);
    }
    return svg;
  }

  function apiHeaders() {
    const h = { "Content-Type": "application/json", Accept: "text/event-stream, application/json" };
    const key = localStorage.getItem(KEY_STORE);
    if (key) h["X-API-Key"] = key;
    return h;
  }

  // Links: http(s) URLs open directly; file:// documents open in the built-in reader; anything else
  // (javascript:, data:, ...) gets no link at all. With the cited `quote`, the reader marks it (hl=) and
  // the browser scrolls to it (a text fragment, which browsers without support ignore).
  function safeHref(url, quote) {
    let u;
    try { u = new URL(url, location.href); } catch { return null; }
    if (u.protocol === "http:" || u.protocol === "https:") {
      if (!quote || u.hash.includes(":~:")) return u.href;
      return (u.hash ? u.href : u.href.replace(/#$/, "") + "#") + textFragment(quote);
    }
    if (u.protocol === "file:") {
      const hash = u.hash;
      u.hash = "";
      const hl = quote ? "&hl=" + encodeURIComponent(quote.slice(0, HL_MAX)) : "";
      return "/view?url=" + encodeURIComponent(u.href) + hl + (quote ? (hash || "#") + textFragment(quote) : hash);
    }
    return null;
  }

  // ":~:text=start,end": the first and last words of a long quote, so that small differences between the
  // indexed text and the page in the middle do not stop the match.
  function textFragment(quote) {
    const enc = (s) => encodeURIComponent(s).replace(/-/g, "%2D");
    const words = quote.split(/\s+/).filter(Boolean);
    if (words.length <= 10) return ":~:text=" + enc(words.join(" "));
    return ":~:text=" + enc(words.slice(0, 5).join(" ")) + "," + enc(words.slice(-5).join(" "));
  }

  function sourceHref(turn, n) {
    const src = turn.sources.get(n);
    return src && !src.removed ? safeHref(src.url, turn.quotes.get(n)) : null;
  }

  function shortSource(url) {
    try {
      const u = new URL(url);
      if (u.protocol === "file:") {
        const parts = u.pathname.split("/").filter(Boolean);
        return decodeURIComponent(parts.slice(-2).join("/"));
      }
      return u.hostname.replace(/^www\./, "") + (u.pathname.length > 1 ? decodeURIComponent(u.pathname) : "");
    } catch { return url; }
  }

  function ago(iso) {
    if (!iso) return tr("never");
    const s = (Date.now() - new Date(iso).getTime()) / 1000;
    if (!isFinite(s)) return iso;
    if (s < 90) return tr("justNow");
    if (s < 5400) return tr("minAgo", { n: Math.round(s / 60) });
    if (s < 129600) return tr("hAgo", { n: Math.round(s / 3600) });
    return tr("daysAgo", { n: Math.round(s / 86400) });
  }

  const fmt = (n) => Number(n).toLocaleString("en");

  // -- server-sent events over fetch (EventSource cannot POST) ----------------------------------------
  async function* sseEvents(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        let event = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (!line || line.startsWith(":")) continue;
          const i = line.indexOf(":");
          const field = i < 0 ? line : line.slice(0, i);
          const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
          if (field === "event") event = val;
          else if (field === "data") data.push(val);
        }
        if (data.length) yield { event, data: data.join("\n") };
      }
    }
  }

  // -- answer rendering -------------------------------------------------------------------------------
  function splitKeep(text, re) {
    const out = [];
    let last = 0, m;
    re.lastIndex = 0;
    while ((m = re.exec(text))) {
      out.push({ s: text.slice(last, m.index), i: last });
      last = m.index + m[0].length;
    }
    out.push({ s: text.slice(last), i: last });
    return out;
  }

  // Append `s` (which starts at offset `start` of the whole answer) as text, marking unsupported ranges.
  function emitText(parent, s, start, ranges) {
    if (!s) return;
    let pos = 0;
    for (const [a, b] of ranges) {
      const lo = Math.max(a - start, pos), hi = Math.min(b - start, s.length);
      if (hi <= lo) continue;
      if (lo > pos) parent.append(s.slice(pos, lo));
      const span = el("span", "unsupported", s.slice(lo, hi));
      span.title = tr("unsupportedTitle");
      parent.append(span);
      pos = hi;
    }
    if (pos < s.length) parent.append(s.slice(pos));
  }

  function chip(turn, n) {
    const src = turn.sources.get(n);
    if (!src) return document.createTextNode("[" + n + "]");
    const href = sourceHref(turn, n);
    const a = el(href ? "a" : "span", "cite", n);
    if (href) { a.href = href; a.target = "_blank"; a.rel = "noopener noreferrer"; }
    a.dataset.n = String(n);
    a.title = src.title + (src.section && src.section !== src.title ? " — " + src.section : "") +
      (src.removed ? " (" + tr("removedSource") + ")" : "");
    if (src.removed) a.classList.add("removed");
    a.addEventListener("mouseenter", () => highlight(turn, n, true));
    a.addEventListener("mouseleave", () => highlight(turn, n, false));
    a.addEventListener("focus", () => highlight(turn, n, true));
    a.addEventListener("blur", () => highlight(turn, n, false));
    a.addEventListener("click", (e) => {
      const card = turn.cards.get(n);
      if (!card || e.button || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;  // new tab: the link
      e.preventDefault();
      showCard(card);
    });
    return a;
  }

  // A citation chip's click brings its source card into view and flashes it; the card opens the source.
  function showCard(card) {
    card.scrollIntoView({ behavior: "smooth", block: "nearest", inline: "nearest" });
    card.classList.remove("flash");
    void card.offsetWidth;  // restart the flash when clicked again
    card.classList.add("flash");
    clearTimeout(card.flashTimer);
    card.flashTimer = setTimeout(() => card.classList.remove("flash"), 1600);
    card.focus({ preventScroll: true });
  }

  // Inline markup: [n] citations, **bold**, `code`. Citation chips sit right after the words they support:
  // "a GAN [1]." shows as "a GAN.¹" (the space before the chips goes, punctuation moves in front of them).
  function inline(parent, s, base, turn, ranges) {
    const tokens = [];
    let last = 0, m;
    INLINE.lastIndex = 0;
    while ((m = INLINE.exec(s))) {
      if (m.index > last) tokens.push({ kind: "text", s: s.slice(last, m.index), at: base + last });
      if (m[1] !== undefined) tokens.push({ kind: "cite", n: Number(m[1]) });
      else if (m[2] !== undefined) tokens.push({ kind: "strong", s: m[2], at: base + m.index + 2 });
      else tokens.push({ kind: "code", s: m[3], at: base + m.index + 1 });
      last = m.index + m[0].length;
    }
    if (last < s.length) tokens.push({ kind: "text", s: s.slice(last), at: base + last });

    for (let i = 0; i < tokens.length; i++) {
      if (tokens[i].kind !== "cite") continue;
      let j = i;  // the run of citations (and blanks between them) starting at i
      while (j + 1 < tokens.length && (tokens[j + 1].kind === "cite" ||
             (tokens[j + 1].kind === "text" && !tokens[j + 1].s.trim() && tokens[j + 2] && tokens[j + 2].kind === "cite"))) j++;
      const prev = tokens[i - 1], next = tokens[j + 1];
      if (prev && prev.kind === "text") prev.s = prev.s.replace(/\s+$/, "");
      const run = tokens.slice(i, j + 1).filter((t) => t.kind === "cite");
      if (next && next.kind === "text" && /^[.,;:!?]/.test(next.s)) {
        const punct = { kind: "text", s: next.s[0], at: next.at };
        next.s = next.s.slice(1);
        next.at += 1;
        tokens.splice(i, j - i + 1, punct, ...run);
        i += run.length;
      } else {
        tokens.splice(i, j - i + 1, ...run);
        i += run.length - 1;
      }
    }
    for (const t of tokens) {
      if (t.kind === "text") emitText(parent, t.s, t.at, ranges);
      else if (t.kind === "cite") parent.append(chip(turn, t.n));
      else {
        const node = el(t.kind);
        emitText(node, t.s, t.at, ranges);
        parent.append(node);
      }
    }
  }

  function renderAnswer(turn, text, ranges = []) {
    const box = turn.answer;
    box.replaceChildren();
    for (const para of splitKeep(text, /\n[ \t]*\n/g)) {
      if (!para.s.trim()) continue;
      const lines = splitKeep(para.s, /\n/g).filter((l) => l.s.trim());
      const heading = lines.length === 1 && /^#{1,6}\s+/.exec(lines[0].s);
      if (heading) {
        const h = el("h3");
        inline(h, lines[0].s.slice(heading[0].length), para.i + lines[0].i + heading[0].length, turn, ranges);
        box.append(h);
      } else if (lines.every((l) => LIST.test(l.s))) {
        const list = el(/^\s*\d/.test(lines[0].s) ? "ol" : "ul");
        for (const l of lines) {
          const m = LIST.exec(l.s);
          const li = el("li");
          inline(li, l.s.slice(m[0].length), para.i + l.i + m[0].length, turn, ranges);
          list.append(li);
        }
        box.append(list);
      } else {
        const p = el("p");
        lines.forEach((l, j) => {
          if (j) p.append(el("br"));
          inline(p, l.s, para.i + l.i, turn, ranges);
        });
        box.append(p);
      }
    }
  }

  function unsupportedRanges(answer) {
    const ranges = [];
    let from = 0;
    for (const s of answer.sentences || []) {
      const t = (s.text || "").trim();
      if (!t) continue;
      const at = answer.answer.indexOf(t, from);
      if (at < 0) continue;
      if (s.supported === false) ranges.push([at, at + t.length]);
      from = at + t.length;
    }
    return ranges;
  }

  function highlight(turn, n, on) {
    const card = turn.cards.get(n);
    if (card) card.classList.toggle("hl", on);
    for (const c of turn.answer.querySelectorAll(".cite")) {
      if (c.dataset.n === String(n)) c.classList.toggle("hl", on);
    }
  }

  function renderSources(turn, sources) {
    turn.sourcesBox.replaceChildren();
    turn.sources.clear();
    turn.cards.clear();
    for (const s of sources) {
      turn.sources.set(s.n, s);
      const href = sourceHref(turn, s.n);
      const card = el(href ? "a" : "div", "card");
      if (href) { card.href = href; card.target = "_blank"; card.rel = "noopener noreferrer"; }
      card.dataset.n = String(s.n);
      const head = el("div", "card-head");
      head.append(el("span", "num", s.n), el("span", "host", shortSource(s.url)));
      if (s.removed) {
        const badge = el("span", "removed-badge", tr("removedBadge"));
        badge.title = tr("removedSource");
        head.append(badge);
        card.classList.add("removed");
        card.title = tr("removedSource");
      }
      card.append(head, el("div", "card-title", s.title || s.url));
      if (s.section && s.section !== s.title) card.append(el("div", "card-section", s.section));
      card.append(el("div", "card-snippet", s.snippet || ""));
      card.addEventListener("mouseenter", () => highlight(turn, s.n, true));
      card.addEventListener("mouseleave", () => highlight(turn, s.n, false));
      turn.cards.set(s.n, card);
      turn.sourcesBox.append(card);
    }
    turn.sourcesLabel.hidden = sources.length === 0;
    turn.sourcesBox.hidden = sources.length === 0;
    turn.sourcesCount.textContent = sources.length ? String(sources.length) : "";
  }

  // [start, end) of a citation's quote in its source's text: the server's offsets when they hold the quote
  // (Python counts code points, JavaScript UTF-16 units: they differ after an emoji), else the first
  // occurrence of the quote; null when neither.
  function citedSpan(text, c) {
    if (typeof text !== "string" || !c) return null;
    const quote = typeof c.quote === "string" ? c.quote : "";
    const { start, end } = c;
    if (Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start < end && end <= text.length &&
        text.slice(start, end).trim() && (!quote || text.slice(start, end) === quote)) return [start, end];
    const q = quote.trim();
    const at = q ? text.indexOf(q) : -1;
    return at < 0 ? null : [at, at + q.length];
  }

  // The card's snippet becomes the text around the cited span, the span in a <mark>.
  function markCard(card, text, [a, b]) {
    const snippet = card.querySelector(".card-snippet");
    if (!snippet) return;
    const before = text.slice(Math.max(0, a - 60), a), after = text.slice(b, b + 200);
    const lead = a > 60 ? "…" + before.replace(/^\S*\s+/, "") : before;
    const tail = b + 200 < text.length ? after.replace(/\s+\S*$/, "") + "…" : after;
    snippet.replaceChildren(lead, el("mark", "cited-span", text.slice(a, b)), tail);
    snippet.classList.add("quoted");
  }

  function showCitedSpans(turn, citations) {
    turn.quotes.clear();
    const spans = new Map();
    for (const c of citations) {
      const src = turn.sources.get(c && c.n);
      const span = src && citedSpan(src.text, c);
      if (!span) continue;
      spans.set(c.n, span);
      turn.quotes.set(c.n, src.text.slice(span[0], span[1]));
    }
    for (const [n, card] of turn.cards) {
      const href = sourceHref(turn, n);
      if (href && card.tagName === "A") card.href = href;
      if (spans.has(n)) markCard(card, turn.sources.get(n).text, spans.get(n));
    }
  }

  // -- turns ------------------------------------------------------------------------------------------
  function newTurn(question) {
    const node = el("article", "turn");
    node.dataset.turn = String(++turnCount);
    const q = el("h2", "question", question);
    const rewrite = el("p", "rewrite");
    rewrite.hidden = true;
    const sourcesLabel = el("div", "label");
    const count = el("span", "count");
    sourcesLabel.append(svgIcon(["M4 5h16M4 12h16M4 19h10"]), el("span", null, tr("sources")), count);
    const sourcesBox = el("div", "sources");
    for (let i = 0; i < 3; i++) sourcesBox.append(el("div", "card skeleton"));
    const answerLabel = el("div", "label");
    answerLabel.append(svgIcon(["M12 3l1.9 5.1L19 10l-5.1 1.9L12 17l-1.9-5.1L5 10l5.1-1.9z"]), el("span", null, tr("answer")));
    const answer = el("div", "answer streaming");
    answer.append(el("span", "thinking", tr("searching")));
    const status = el("div", "status");
    const meta = el("div", "meta");
    const preview = el("div", "preview-box");
    preview.hidden = true;
    node.append(q, rewrite, sourcesLabel, sourcesBox, answerLabel, preview, answer, status, meta);
    thread.append(node);
    return { node, question, rewrite, answer, status, meta, preview, sourcesBox, sourcesLabel, sourcesCount: count,
             answerLabel, sources: new Map(), cards: new Map(), quotes: new Map(), raw: "" };
  }

  // The best evidence sentence with its citation, shown while the model writes; the final answer replaces it.
  function showPreview(turn, data) {
    if (typeof data.quote !== "string" || !data.quote) return;
    const box = el("blockquote", "preview");
    box.append(el("span", "preview-label", tr("topPassage")), el("span", "preview-text", `\u201c${data.quote}\u201d`), " ");
    if (turn.sources.has(data.source)) box.append(chip(turn, data.source));
    turn.preview.replaceChildren(box);
    turn.preview.hidden = false;
  }

  // "Not found", yet a source came close: its best sentence, marked in its card, labelled as not an answer.
  function showClosest(turn, closest) {
    if (!closest || typeof closest.quote !== "string" || !turn.sources.has(closest.n)) return;
    const box = el("blockquote", "preview closest");
    box.append(el("span", "preview-label", tr("closest")), el("span", "preview-text", `\u201c${closest.quote}\u201d`), " ",
      chip(turn, closest.n));
    turn.status.append(box);
    showCitedSpans(turn, [closest]);
  }

  function showNotice(turn, kind, title, detail, action) {
    const box = el("div", "notice " + kind);
    box.setAttribute("role", kind === "error" ? "alert" : "status");
    box.append(el("strong", null, title));
    if (detail) box.append(el("span", null, detail));
    if (action) box.append(action);
    turn.status.replaceChildren(box);
  }

  function keyForm(turn) {
    const f = el("form", "keyform");
    const field = el("input");
    field.type = "password";
    field.placeholder = "API key";
    field.setAttribute("aria-label", "API key");
    const save = el("button", null, tr("saveRetry"));
    save.type = "submit";
    f.append(field, save);
    f.addEventListener("submit", (e) => {
      e.preventDefault();
      if (field.value.trim()) localStorage.setItem(KEY_STORE, field.value.trim());
      turn.node.remove();
      loadStats();
      ask(turn.question, false);
    });
    return f;
  }

  function retryButton(turn) {
    const b = el("button", "retry", tr("tryAgain"));
    b.type = "button";
    b.addEventListener("click", () => { turn.node.remove(); ask(turn.question, false); });
    return b;
  }

  async function httpError(turn, res) {
    let body = {};
    try { body = await res.json(); } catch { /* not JSON */ }
    const detail = body.detail || (body.error && body.error.message) || res.statusText || "";
    if (res.status === 401) {
      showNotice(turn, "error", tr("needsKey"), detail, keyForm(turn));
    } else if (res.status === 503 && body.error === "no_index") {
      showNotice(turn, "error", tr("noIndex"), tr("runIndex"), retryButton(turn));
    } else if (res.status === 503 && body.error === "busy") {
      const wait = res.headers.get("Retry-After");
      showNotice(turn, "error", tr("busy"), wait ? tr("tryIn", { s: wait }) : detail, retryButton(turn));
    } else {
      showNotice(turn, "error", tr("httpError", { status: res.status }), detail, retryButton(turn));
    }
  }

  function finish(turn, answer) {
    turn.answer.classList.remove("streaming");
    turn.preview.replaceChildren();
    turn.preview.hidden = true;
    renderSources(turn, answer.sources || [...turn.sources.values()]);
    const citations = Array.isArray(answer.citations) ? answer.citations : [];
    const cited = new Set(citations.map((c) => c && c.n));
    for (const [n, card] of turn.cards) card.classList.toggle("uncited", !cited.has(n));
    if (answer.abstained) {
      turn.node.classList.add("abstained");
      turn.answer.replaceChildren();
      turn.answerLabel.hidden = true;
      const reason = Object.hasOwn(REASONS, answer.reason) ? el("span", "reason", REASONS[answer.reason]) : null;
      showNotice(turn, "notfound", tr("notFound"),
        turn.sources.size ? tr("noneAnswers", { n: turn.sources.size }) : tr("nothingMatched"), reason);
      showClosest(turn, answer.closest);
    } else {
      showCitedSpans(turn, citations);
      if (answer.kind === "quote") {
        const note = el("span", "answer-kind", tr("quoted"));
        note.title = tr("quotedTitle");
        turn.answerLabel.append(note);
      }
      renderAnswer(turn, answer.answer || "", unsupportedRanges(answer));
    }
    const t = answer.timings || {};
    const parts = [];
    if (t.retrieve_ms !== undefined) parts.push(`retrieval ${Math.round(t.retrieve_ms)} ms`);
    if (t.first_token_ms !== undefined && !answer.abstained) parts.push(`first token ${Math.round(t.first_token_ms)} ms`);
    if (t.total_ms !== undefined) parts.push(`total ${(t.total_ms / 1000).toFixed(1)} s`);
    turn.meta.textContent = parts.join(" · ");
    history.push({ role: "user", content: turn.question }, { role: "assistant", content: answer.answer || "" });
    history = history.slice(-20);
    if (answer.conversation_id) setConversation(answer.conversation_id);
    if (answer.turn_id) turn.node.append(feedbackBar(answer.turn_id, answer.verdict || null, answer.reason || null));
  }

  // -- feedback: thumbs up or down on an answer, a reason with a thumbs down ---------------------------
  function feedbackBar(turnId, verdict, reason) {
    const bar = el("div", "feedback");
    bar.dataset.turnId = turnId;
    const up = el("button", "thumb up"), down = el("button", "thumb down");
    up.append(svgIcon(["M7 10v11H4V10z", "M7 10l4-7a2 2 0 0 1 3 2l-1 5h6a2 2 0 0 1 2 2l-2 7a2 2 0 0 1-2 2H7"]));
    down.append(svgIcon(["M17 14V3h3v11z", "M17 14l-4 7a2 2 0 0 1-3-2l1-5H5a2 2 0 0 1-2-2l2-7a2 2 0 0 1 2-2h10"]));
    up.title = tr("good"); down.title = tr("bad");
    const reasons = el("div", "reasons");
    reasons.append(el("span", "why", tr("whyBad")));
    const note = el("span", "feedback-note");
    note.setAttribute("role", "status");
    for (const code of FEEDBACK_REASONS) {
      const b = el("button", "reason-chip", tr(code));
      b.type = "button";
      b.dataset.reason = code;
      b.addEventListener("click", () => send("down", code));
      reasons.append(b);
    }
    for (const b of [up, down]) { b.type = "button"; b.setAttribute("aria-label", b.title); }
    up.addEventListener("click", () => send("up", null));
    down.addEventListener("click", () => send("down", null));
    bar.append(up, down, reasons, note);
    function show(v, r) {
      up.setAttribute("aria-pressed", String(v === "up"));
      down.setAttribute("aria-pressed", String(v === "down"));
      reasons.hidden = v !== "down";
      for (const b of reasons.querySelectorAll(".reason-chip")) b.setAttribute("aria-pressed", String(b.dataset.reason === r));
    }
    async function send(v, r) {
      try {
        const res = await fetch("/api/feedback", { method: "POST", headers: apiHeaders(),
          body: JSON.stringify({ turn_id: turnId, verdict: v, ...(r ? { reason: r } : {}) }) });
        if (!res.ok) { note.textContent = res.status === 401 ? tr("feedbackKey") : tr("feedbackFailed"); return; }
        show(v, r);
        note.textContent = tr("thanks");
      } catch { note.textContent = tr("feedbackFailed"); }
    }
    show(verdict, reason);
    return bar;
  }

  // -- conversations: the sidebar, reopening one, sharing it ---------------------------------------------
  const sidebar = $("sidebar"), convList = $("conversations"), convEmpty = $("conv-empty");
  const toggle = $("sidebar-toggle"), scrim = $("scrim");
  const shareBtn = $("share"), shareBox = $("share-box"), shareUrl = $("share-url");

  function setConversation(id) {
    conversationId = id;
    shareBtn.hidden = !id;
    if (!id) shareBox.hidden = true;
    loadConversations();
  }

  function openSidebar(open) {
    document.body.classList.toggle("sidebar-open", open);
    toggle.setAttribute("aria-expanded", String(open));
    scrim.hidden = !open;
  }

  async function loadConversations() {
    let rows = [];
    try {
      const res = await fetch("/api/conversations", { headers: apiHeaders() });
      if (!res.ok) { convList.replaceChildren(); convEmpty.hidden = false; return; }
      rows = await res.json();
    } catch { return; }
    convList.replaceChildren(...rows.map(convItem));
    convEmpty.hidden = rows.length > 0;
  }

  const TRASH = ["M4 7h16", "M10 11v6M14 11v6", "M6 7l1 13h10l1-13", "M9 7V4h6v3"];

  function convItem(c) {
    const li = el("li", "conv");
    li.dataset.id = c.id;
    const link = el("a", "conv-link", c.title || tr("untitled"));
    link.href = "/c/" + encodeURIComponent(c.id);
    link.title = c.title;
    if (c.id === conversationId) { li.classList.add("current"); link.setAttribute("aria-current", "page"); }
    link.addEventListener("click", (e) => {
      if (e.button || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      history_push(link.getAttribute("href"));
      openSidebar(false);
      openConversation(c.id);
    });
    const rename = el("button", "conv-rename");
    rename.type = "button";
    rename.title = tr("rename");
    rename.setAttribute("aria-label", tr("rename"));
    rename.append(svgIcon(["M4 20h4L19 9l-4-4L4 16z", "M14 6l4 4"]));
    rename.addEventListener("click", () => startRename(li, link, c));
    const del = el("button", "conv-delete");
    del.type = "button";
    del.title = tr("remove");
    del.setAttribute("aria-label", tr("remove"));
    del.append(svgIcon(TRASH));
    del.addEventListener("click", async () => {
      if (!del.classList.contains("confirm")) {  // the first click asks, the second deletes
        del.classList.add("confirm");
        del.replaceChildren(tr("confirmRemove"));
        setTimeout(() => { del.classList.remove("confirm"); del.replaceChildren(svgIcon(TRASH)); }, 4000);
        return;
      }
      const res = await fetch("/api/conversations/" + encodeURIComponent(c.id), { method: "DELETE", headers: apiHeaders() });
      if (!res.ok && res.status !== 404) return;
      if (c.id === conversationId) { history_push("/"); runFromUrl(); }
      loadConversations();
    });
    li.append(link, rename, del);
    return li;
  }

  function startRename(li, link, c) {
    const field = el("input", "conv-title");
    field.value = c.title;
    field.maxLength = 200;
    field.setAttribute("aria-label", tr("rename"));
    let done = false;
    const finishRename = async (save) => {
      if (done) return;
      done = true;
      const title = field.value.trim();
      if (save && title && title !== c.title) {
        const res = await fetch("/api/conversations/" + encodeURIComponent(c.id), {
          method: "PATCH", headers: apiHeaders(), body: JSON.stringify({ title }) });
        if (res.ok) c.title = (await res.json()).title;
      }
      link.textContent = c.title;
      link.title = c.title;
      field.replaceWith(link);
      li.classList.remove("editing");
    };
    field.addEventListener("keydown", (e) => {
      if (e.key === "Enter") { e.preventDefault(); finishRename(true); }
      else if (e.key === "Escape") { e.preventDefault(); finishRename(false); }
    });
    field.addEventListener("blur", () => finishRename(true));
    li.classList.add("editing");
    link.replaceWith(field);
    field.focus();
    field.select();
  }

  async function openConversation(id) {
    if (controller) controller.abort();
    thread.replaceChildren();
    history = [];
    conversationId = id;
    input.value = "";
    document.body.classList.remove("idle");
    followForm.hidden = false;
    shareBox.hidden = true;
    let res;
    try {
      res = await fetch("/api/conversations/" + encodeURIComponent(id), { headers: apiHeaders() });
    } catch { res = null; }
    if (!res || !res.ok) {
      const turn = newTurn("");
      turn.node.classList.add("missing");
      turn.answer.replaceChildren();
      turn.answer.classList.remove("streaming");
      renderSources(turn, []);
      turn.answerLabel.hidden = true;
      showNotice(turn, "error", res && res.status === 404 ? tr("noConversation") : tr("loadFailed"), "");
      setConversation(null);
      followForm.hidden = true;
      return;
    }
    const conv = await res.json();
    for (const t of conv.turn_list) {
      const turn = newTurn(t.question);
      finish(turn, { ...t.answer, conversation_id: null, turn_id: t.id, verdict: t.verdict, reason: t.reason });
    }
    document.title = conv.title + " · searchchat";
    setConversation(conv.id);
  }

  shareBtn.addEventListener("click", async () => {
    if (!conversationId) return;
    try {
      const res = await fetch("/api/conversations/" + encodeURIComponent(conversationId) + "/share",
        { method: "POST", headers: apiHeaders() });
      if (!res.ok) throw new Error();
      const body = await res.json();
      shareUrl.value = new URL(body.url, location.href).href;
      shareBox.hidden = false;
      shareUrl.focus();
      shareUrl.select();
      if (navigator.clipboard) navigator.clipboard.writeText(shareUrl.value).catch(() => {});
    } catch {
      shareUrl.value = "";
      shareBox.hidden = false;
      $("share-note").textContent = tr("shareFailed");
      return;
    }
    $("share-note").textContent = tr("shareLink");
  });

  $("unshare").addEventListener("click", async () => {
    if (!conversationId) return;
    const res = await fetch("/api/conversations/" + encodeURIComponent(conversationId) + "/share",
      { method: "DELETE", headers: apiHeaders() });
    if (res.ok) { shareBox.hidden = true; shareUrl.value = ""; }
  });
  $("share-close").addEventListener("click", () => { shareBox.hidden = true; });
  toggle.addEventListener("click", () => openSidebar(!document.body.classList.contains("sidebar-open")));
  scrim.addEventListener("click", () => openSidebar(false));

  function setBusy(busy) {
    stopBtn.hidden = !busy;
    document.body.classList.toggle("busy", busy);
  }

  async function ask(question, followup) {
    question = question.trim();
    if (!question) return;
    if (controller) controller.abort();
    if (!followup) { thread.replaceChildren(); history = []; setConversation(null); }
    document.body.classList.remove("idle");
    followForm.hidden = false;
    const turn = newTurn(question);
    turn.node.scrollIntoView({ behavior: followup ? "smooth" : "auto", block: "start" });
    const ctrl = new AbortController();
    controller = ctrl;
    setBusy(true);
    let final = null, pending = false;
    const paint = () => { pending = false; if (!final) renderAnswer(turn, turn.raw); };
    try {
      const res = await fetch("/ask/stream", {
        method: "POST", headers: apiHeaders(), signal: ctrl.signal,
        body: JSON.stringify({ question, ...(followup && conversationId ? { conversation_id: conversationId }
                                                       : { history: followup ? history : [] }),
                               ...(strictBox.checked ? { strict: true } : {}) }),
      });
      if (!res.ok) { turn.answer.replaceChildren(); turn.answer.classList.remove("streaming"); renderSources(turn, []); await httpError(turn, res); return; }
      for await (const ev of sseEvents(res)) {
        const data = JSON.parse(ev.data);
        if (ev.event === "rewrite") {
          turn.rewrite.textContent = tr("searchedFor") + data.query;
          turn.rewrite.hidden = false;
        } else if (ev.event === "sources") {
          renderSources(turn, data.sources || []);
          turn.answer.replaceChildren(el("span", "thinking", tr("writing")));
        } else if (ev.event === "preview") {
          showPreview(turn, data);
        } else if (ev.event === "token") {
          turn.raw += data.text;
          if (!pending) { pending = true; requestAnimationFrame(paint); }
        } else if (ev.event === "final") {
          final = data;
          finish(turn, data);
        } else if (ev.event === "error") {
          throw Object.assign(new Error(data.detail || tr("serverFailed")), { server: true });
        }
      }
      if (!final) throw new Error(tr("incomplete"));
    } catch (err) {
      turn.answer.classList.remove("streaming");
      if (err.name === "AbortError") {
        if (controller === ctrl) showNotice(turn, "muted", tr("stopped"), "");
      } else {
        if (!turn.raw) { turn.answer.replaceChildren(); }
        if (!turn.sources.size) renderSources(turn, []);
        showNotice(turn, "error", err.server ? tr("serverFailed") : tr("unreachable"),
          err.server ? err.message : tr("checkRunning"), retryButton(turn));
      }
    } finally {
      if (controller === ctrl) { controller = null; setBusy(false); }
    }
  }

  // -- stats ------------------------------------------------------------------------------------------
  async function loadStats() {
    const out = $("stats"), hero = $("hero-stats");
    try {
      const res = await fetch("/api/stats", { headers: apiHeaders() });
      const body = await res.json().catch(() => ({}));
      if (res.ok) {
        out.textContent = tr("stats", { docs: fmt(body.documents), chunks: fmt(body.chunks), sources: fmt(body.sources),
                                       plural: body.sources === 1 ? "" : "s", ago: ago(body.last_indexed) });
        out.title = body.last_indexed ? `Last indexed ${body.last_indexed} · index ${body.version}` : "";
        hero.textContent = tr("hero", { docs: fmt(body.documents), chunks: fmt(body.chunks) });
      } else if (body.error === "no_index") {
        out.textContent = tr("statsNoIndex");
        hero.textContent = tr("heroNoIndex");
        hero.classList.add("warn");
      } else if (res.status === 401) {
        out.textContent = tr("statsKey");
      } else {
        out.textContent = tr("statsUnavailable");
      }
    } catch {
      out.textContent = tr("serverUnreachable");
    }
  }

  // -- wiring -----------------------------------------------------------------------------------------
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    const url = "/?q=" + encodeURIComponent(q);
    if (location.pathname + location.search !== url) history_push(url);
    input.blur();
    ask(q, false);
  });

  followForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = followInput.value.trim();
    if (!q) return;
    followInput.value = "";
    ask(q, true);
  });

  stopBtn.addEventListener("click", () => { if (controller) controller.abort(); });

  function history_push(url) { window.history.pushState({}, "", url); }

  document.addEventListener("keydown", (e) => {
    const tag = (e.target && e.target.tagName) || "";
    if (e.key === "/" && !e.ctrlKey && !e.metaKey && !e.altKey && !/^(INPUT|TEXTAREA|SELECT)$/.test(tag)) {
      e.preventDefault();
      input.focus();
      input.select();
    } else if (e.key === "Escape" && document.body.classList.contains("sidebar-open")) {
      openSidebar(false);
    } else if (e.key === "Escape" && (e.target === input || e.target === followInput)) {
      e.target.blur();
    }
  });

  function runFromUrl() {
    const q = new URLSearchParams(location.search).get("q");
    const reopen = /^\/c\/([^/]+)$/.exec(location.pathname);
    if (reopen) { openConversation(decodeURIComponent(reopen[1])); }
    else if (q && q.trim()) { input.value = q; ask(q, false); }
    else {
      if (controller) controller.abort();
      thread.replaceChildren(); history = []; input.value = "";
      followForm.hidden = true; document.body.classList.add("idle");
      setConversation(null);
    }
  }

  window.addEventListener("popstate", runFromUrl);
  loadStats();
  runFromUrl();
  if (document.body.classList.contains("idle")) input.focus();
})();
