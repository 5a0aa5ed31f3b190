// botstack web: lists posts through the API behind Caddy (/api/* -> API, prefix stripped).
"use strict";

const $ = (id) => document.getElementById(id);

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text; // never innerHTML: post texts are user content
  if (className) td.className = className;
  return td;
}

async function loadHealth() {
  try {
    const resp = await fetch("/api/health", { cache: "no-store" });
    const body = await resp.json();
    $("health").textContent = resp.ok ? "API ok" : "API degraded: " + (body.down || []).join(", ") + " down";
    $("health").className = "health " + (resp.ok ? "ok" : "down");
  } catch (err) {
    $("health").textContent = "API unreachable";
    $("health").className = "health down";
  }
}

async function loadPosts() {
  const status = $("status").value;
  const url = "/api/posts?limit=100" + (status ? "&status=" + encodeURIComponent(status) : "");
  $("message").textContent = "";
  try {
    const resp = await fetch(url, { cache: "no-store" });
    if (!resp.ok) throw new Error("HTTP " + resp.status);
    const posts = await resp.json();
    const rows = posts.map((p) => {
      const tr = document.createElement("tr");
      tr.append(
        cell(String(p.id)),
        cell(p.channel),
        cell(p.text),
        cell(new Date(p.publish_at).toLocaleString()),
        cell(p.status, "status " + p.status),
      );
      return tr;
    });
    $("posts").replaceChildren(...rows);
    if (!posts.length) $("message").textContent = "No posts yet.";
  } catch (err) {
    $("message").textContent = "Could not load posts (" + err.message + ").";
  }
}

function refresh() {
  loadHealth();
  loadPosts();
}

document.addEventListener("DOMContentLoaded", () => {
  $("refresh").addEventListener("click", refresh);
  $("status").addEventListener("change", loadPosts);
  refresh();
  setInterval(refresh, 15000);
});
