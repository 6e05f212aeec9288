/**
 * HTML of the Bitbucket simulator's web server: the repository list, a
 * Bitbucket-like repository overview page whose sidebar embeds the add-on's web
 * panels, file and build pages, and the script that replaces Bitbucket's all.js
 * inside the panel iframe.
 */
import { CommitStatusRecord, RepositoryRecord, WorkspaceRecord } from './bitbucket-data';
import { PanelFrame } from './bitbucket-connect';
import { escapeHtml } from './html';

/** Message type the stand-in all.js posts to the overview page with the panel's content height. */
export const RESIZE_MESSAGE_TYPE = 'sandbox-resize';
/** Bounds of a panel iframe's height in pixels, whatever height the panel reports. */
const MIN_PANEL_HEIGHT = 40;
const MAX_PANEL_HEIGHT = 4000;

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#172b4d;background:#f7f8f9}
a{color:#0c66e4;text-decoration:none}
a:hover{text-decoration:underline}
.topbar{display:flex;align-items:center;gap:16px;height:48px;padding:0 20px;background:#0c2d6b;color:#fff}
.topbar a{color:#fff;font-weight:600}
.topbar .note{margin-left:auto;font-size:12px;opacity:.8}
.layout{display:grid;grid-template-columns:230px minmax(0,1fr) 340px;gap:24px;max-width:1400px;margin:0 auto;padding:24px}
.nav h3{margin:16px 0 6px;font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:#626f86}
.nav ul{list-style:none;margin:0;padding:0}
.nav li a{display:block;padding:4px 8px;border-radius:3px;color:#172b4d}
.nav li a.current{background:#e9f2ff;color:#0c66e4;font-weight:600}
.crumbs{color:#626f86;font-size:13px}
h1{margin:4px 0 8px;font-size:24px}
.meta{display:flex;flex-wrap:wrap;gap:12px;align-items:center;margin:8px 0 20px;color:#44546f}
.chip{display:inline-block;padding:1px 8px;border-radius:3px;background:#e9ebee;font:12px/1.6 ui-monospace,SFMono-Regular,Menlo,monospace}
.state{display:inline-block;padding:1px 8px;border-radius:3px;font-size:11px;font-weight:700;color:#fff}
.state-SUCCESSFUL{background:#1f845a}
.state-FAILED{background:#c9372c}
.state-INPROGRESS{background:#0c66e4}
.state-STOPPED{background:#626f86}
.card{background:#fff;border:1px solid #dcdfe4;border-radius:6px;margin-bottom:20px}
.card h2{margin:0;padding:10px 16px;border-bottom:1px solid #dcdfe4;font-size:14px}
.files{width:100%;border-collapse:collapse}
.files td{padding:7px 16px;border-top:1px solid #f1f2f4}
.files tr:first-child td{border-top:0}
.files .kind{width:28px}
.icon{display:inline-block;width:12px;height:14px;border:1.5px solid #626f86;border-radius:2px;vertical-align:-2px}
.icon.directory{height:11px;background:#8590a2;border-color:#8590a2;border-radius:1px 4px 2px 2px}
pre{margin:0;padding:16px;overflow:auto;font:13px/1.5 ui-monospace,SFMono-Regular,Menlo,monospace;white-space:pre-wrap}
.sidebar .card{padding:0}
.sidebar dl{margin:0;padding:12px 16px}
.sidebar dt{color:#626f86;font-size:12px}
.sidebar dd{margin:0 0 8px}
.panel-frame{display:block;width:100%;height:160px;border:0}
.notice{padding:14px 16px;color:#44546f}
.notice strong{color:#172b4d}
.error{padding:14px 16px;color:#ae2e24}
button{font:inherit;padding:5px 12px;border:1px solid #0c66e4;border-radius:3px;background:#0c66e4;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#0c66e4}
.repo-table{width:100%;border-collapse:collapse;background:#fff}
.repo-table td{padding:8px 12px;border-bottom:1px solid #dcdfe4}
.repo-table td:first-child{white-space:nowrap}
main.wide{max-width:1100px;margin:0 auto;padding:24px}
`;

export function renderPage(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} | Bitbucket sandbox</title>
<style>${STYLE}</style>
</head>
<body>
<header class="topbar"><a href="/">Bitbucket</a><span class="note">Local sandbox: not bitbucket.org</span></header>
${body}
</body>
</html>
`;
}

export interface RepositoryListModel {
  workspaces: WorkspaceRecord[];
  isInstalled(workspace: string): boolean;
  addonBaseUrl: string;
}

export function renderRepositoryList(model: RepositoryListModel): string {
  const sections = model.workspaces.map((workspace) => {
    const installed = model.isInstalled(workspace.slug);
    const rows = [...workspace.repositories.values()].map((repository) => {
      const link = repositoryLink(`${workspace.slug}/${repository.slug}`);
      return `<tr><td>${link}</td><td>${escapeHtml(repository.description)}</td></tr>`;
    });
    const state = installed ? 'add-on installed' : 'add-on not installed';
    return `<section class="card">
<h2>${escapeHtml(workspace.name)} <span class="chip">${escapeHtml(workspace.slug)}</span>
<span class="chip">${state}</span>
${lifecycleForm(workspace.slug, installed, '/')}</h2>
<table class="repo-table"><tbody>
${rows.join('\n')}
</tbody></table>
</section>`;
  });
  const body = `<main class="wide">
<h1>Repositories</h1>
<p class="crumbs">Add-on under test: ${escapeHtml(model.addonBaseUrl)}</p>
${sections.join('\n')}
</main>`;
  return renderPage('Repositories', body);
}

export type SidebarState =
  | { kind: 'panels'; frames: PanelFrame[] }
  | { kind: 'not-installed'; addonBaseUrl: string }
  | { kind: 'no-panels' }
  | { kind: 'error'; message: string };

export interface OverviewModel {
  workspaces: WorkspaceRecord[];
  workspace: WorkspaceRecord;
  repository: RepositoryRecord;
  entries: Array<{ path: string; type: 'commit_file' | 'commit_directory' }>;
  readme: string | undefined;
  statuses: Array<CommitStatusRecord & { href: string }>;
  sidebar: SidebarState;
}

export function renderOverview(model: OverviewModel): string {
  const { workspace, repository } = model;
  const fullName = `${workspace.slug}/${repository.slug}`;
  const body = `<div class="layout">
${repositoryNav(model.workspaces, fullName)}
<main>
<div class="crumbs">${escapeHtml(workspace.name)} / Repositories</div>
<h1>${escapeHtml(repository.name)}</h1>
${branchMeta(model)}
${fileCard(model)}
${readmeCard(model.readme)}
</main>
<aside class="sidebar">
<section class="card"><h2>Repository details</h2><dl>
<dt>Full name</dt><dd>${escapeHtml(fullName)}</dd>
<dt>UUID</dt><dd><span class="chip">${escapeHtml(repository.uuid)}</span></dd>
<dt>Language</dt><dd>${escapeHtml(repository.language || 'none')}</dd>
<dt>Last updated</dt><dd>${escapeHtml(repository.updatedOn)}</dd>
</dl></section>
${sidebarPanels(model.sidebar, workspace.slug, `/${fullName}`)}
</aside>
</div>
${resizeListener()}`;
  return renderPage(fullName, body);
}

function repositoryNav(workspaces: WorkspaceRecord[], currentFullName: string): string {
  const groups = workspaces.map((workspace) => {
    const items = [...workspace.repositories.values()].map((repository) => {
      const fullName = `${workspace.slug}/${repository.slug}`;
      const current = fullName === currentFullName ? ' class="current"' : '';
      return `<li><a${current} href="/${escapeHtml(fullName)}">${escapeHtml(repository.slug)}</a></li>`;
    });
    return `<h3>${escapeHtml(workspace.slug)}</h3><ul>${items.join('')}</ul>`;
  });
  return `<nav class="nav">${groups.join('\n')}</nav>`;
}

function branchMeta(model: OverviewModel): string {
  const { repository } = model;
  if (repository.mainBranch === null) {
    return '<div class="meta">This repository is empty: it has no commits and no main branch.</div>';
  }
  const statuses = model.statuses.map((status) => {
    const badge = `<span class="state state-${escapeHtml(status.state)}">${escapeHtml(status.state)}</span>`;
    const title = escapeHtml(status.description);
    return `<a href="${escapeHtml(status.href)}" title="${title}">${badge} ${escapeHtml(status.name)}</a>`;
  });
  return `<div class="meta">
<span>Branch <span class="chip">${escapeHtml(repository.mainBranch)}</span></span>
<span>Head <span class="chip">${escapeHtml(repository.head.hash.slice(0, 12))}</span></span>
${statuses.join(' ') || '<span>No builds for this commit</span>'}
</div>`;
}

function fileCard(model: OverviewModel): string {
  const { workspace, repository } = model;
  if (repository.mainBranch === null) {
    return '';
  }
  const revision = encodeURIComponent(repository.mainBranch);
  const rows = model.entries.map((entry) => {
    const icon = entry.type === 'commit_directory' ? 'icon directory' : 'icon';
    const encodedPath = entry.path.split('/').map(encodeURIComponent).join('/');
    const href = `/${workspace.slug}/${repository.slug}/src/${revision}/${encodedPath}`;
    const link = `<a href="${escapeHtml(href)}">${escapeHtml(entry.path)}</a>`;
    return `<tr><td class="kind"><span class="${icon}"></span></td><td>${link}</td></tr>`;
  });
  return `<section class="card"><h2>Source</h2><table class="files"><tbody>
${rows.join('\n') || '<tr><td></td><td>No files</td></tr>'}
</tbody></table></section>`;
}

function readmeCard(readme: string | undefined): string {
  if (readme === undefined) {
    return '';
  }
  return `<section class="card"><h2>README.md</h2><pre>${escapeHtml(readme)}</pre></section>`;
}

function sidebarPanels(state: SidebarState, workspace: string, returnTo: string): string {
  switch (state.kind) {
    case 'panels':
      return state.frames.map(panelCard).join('\n');
    case 'not-installed':
      return `<section class="card"><div class="notice">
<strong>The add-on is not installed on workspace ${escapeHtml(workspace)}.</strong><br>
Its panel appears here once installed. Add-on under test: ${escapeHtml(state.addonBaseUrl)}
<p>${lifecycleForm(workspace, false, returnTo)}</p>
</div></section>`;
    case 'no-panels':
      return `<section class="card"><div class="notice">
The installed add-on declares no web panel at the repository overview location.</div></section>`;
    case 'error':
      return `<section class="card"><div class="error">${escapeHtml(state.message)}</div></section>`;
  }
}

function panelCard(frame: PanelFrame): string {
  const name = escapeHtml(frame.name);
  const attributes = `title="${name}" src="${escapeHtml(frame.url)}" data-origin="${escapeHtml(frame.origin)}"`;
  return `<section class="card"><h2>${name}</h2><iframe class="panel-frame" ${attributes}></iframe></section>`;
}

function lifecycleForm(workspace: string, installed: boolean, returnTo: string): string {
  const action = installed ? 'uninstall' : 'install';
  const label = installed ? 'Uninstall add-on' : 'Install add-on';
  const style = installed ? ' class="secondary"' : '';
  return `<form method="post" action="/__sandbox/${action}/${escapeHtml(workspace)}" style="display:inline">
<input type="hidden" name="returnTo" value="${escapeHtml(returnTo)}">
<button${style} type="submit">${label}</button>
</form>`;
}

/** Returns the overview page script that sizes each panel iframe from the resize messages its document posts. */
function resizeListener(): string {
  return `<script>
window.addEventListener('message', function (event) {
  var data = event.data;
  if (!data || data.type !== ${JSON.stringify(RESIZE_MESSAGE_TYPE)} || typeof data.height !== 'number') return;
  var frames = document.querySelectorAll('iframe.panel-frame');
  for (var i = 0; i < frames.length; i++) {
    var frame = frames[i];
    if (frame.contentWindow === event.source && frame.getAttribute('data-origin') === event.origin) {
      var height = Math.max(${MIN_PANEL_HEIGHT}, Math.min(${MAX_PANEL_HEIGHT}, Math.ceil(data.height)));
      frame.style.height = height + 'px';
    }
  }
});
</script>`;
}

export interface FilePageModel {
  workspace: WorkspaceRecord;
  repository: RepositoryRecord;
  revision: string;
  filePath: string;
  bytes: Buffer | undefined;
}

/** Bytes of a file shown on its page; longer files are cut. */
const MAX_SHOWN_FILE_BYTES = 64 * 1024;

export function renderFilePage(model: FilePageModel): string {
  const fullName = `${model.workspace.slug}/${model.repository.slug}`;
  let content: string;
  if (model.bytes === undefined) {
    content = '<div class="notice">No such file at this revision.</div>';
  } else if (model.bytes.includes(0)) {
    content = `<div class="notice">Binary file, ${model.bytes.length} bytes.</div>`;
  } else {
    const visibleText = model.bytes.subarray(0, MAX_SHOWN_FILE_BYTES).toString('utf8');
    const cut = model.bytes.length > MAX_SHOWN_FILE_BYTES ? `\n... (${model.bytes.length} bytes in total)` : '';
    content = `<pre>${escapeHtml(visibleText + cut)}</pre>`;
  }
  const body = `<main class="wide">
<div class="crumbs">${repositoryLink(fullName)} / ${escapeHtml(model.revision)}</div>
<h1>${escapeHtml(model.filePath)}</h1>
<section class="card">${content}</section>
</main>`;
  return renderPage(`${model.filePath} - ${fullName}`, body);
}

export function renderBuildPage(fullName: string, status: CommitStatusRecord | undefined, buildNumber: string): string {
  let detail = '<p>No build status links to this page.</p>';
  if (status) {
    const badge = `<span class="state state-${escapeHtml(status.state)}">${escapeHtml(status.state)}</span>`;
    detail = `<p>${badge} ${escapeHtml(status.name)}</p><p>${escapeHtml(status.description)}</p>`;
  }
  const body = `<main class="wide">
<div class="crumbs">${repositoryLink(fullName)} / Pipelines</div>
<h1>Build #${escapeHtml(buildNumber)}</h1>
<section class="card"><div class="notice">${detail}</div></section>
</main>`;
  return renderPage(`Build ${buildNumber}`, body);
}

export function renderMessagePage(title: string, message: string): string {
  const body = `<main class="wide">
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(message)}</p>
<p><a href="/">All repositories</a></p>
</main>`;
  return renderPage(title, body);
}

function repositoryLink(fullName: string): string {
  return `<a href="/${escapeHtml(fullName)}">${escapeHtml(fullName)}</a>`;
}

/**
 * Returns the script that replaces https://bitbucket.org/atlassian-connect/all.js
 * inside the panel iframe. It measures the `.ac-content` element (or the body when
 * there is none) and posts `{type: 'sandbox-resize', height}` to the overview page
 * on load and on every size change. It also defines `AP.resize` and `AP.sizeToParent`.
 */
export function allJsScript(webOrigin: string): string {
  return `/* Bitbucket sandbox stand-in for atlassian-connect/all.js */
(function () {
  'use strict';
  var parentOrigin = ${JSON.stringify(webOrigin)};
  var lastHeight = -1;
  function target() {
    return document.querySelector('.ac-content') || document.body;
  }
  function measure() {
    var element = target();
    if (!element) return 0;
    var style = window.getComputedStyle(element);
    var margins = (parseFloat(style.marginTop) || 0) + (parseFloat(style.marginBottom) || 0);
    return Math.ceil(element.getBoundingClientRect().height + margins);
  }
  function post(height) {
    if (window.parent === window) return;
    window.parent.postMessage({ type: ${JSON.stringify(RESIZE_MESSAGE_TYPE)}, height: height }, parentOrigin);
  }
  function report() {
    var height = measure();
    if (height !== lastHeight) {
      lastHeight = height;
      post(height);
    }
  }
  function observe() {
    report();
    if (typeof ResizeObserver === 'function' && target()) {
      new ResizeObserver(report).observe(target());
    }
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', observe);
  } else {
    observe();
  }
  window.addEventListener('load', report);
  window.addEventListener('resize', report);
  window.AP = window.AP || {
    resize: function (_width, height) {
      var pixels = parseInt(height, 10);
      post(isNaN(pixels) ? measure() : pixels);
    },
    sizeToParent: function () {}
  };
})();
`;
}
