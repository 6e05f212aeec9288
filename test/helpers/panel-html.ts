/**
 * Reads the rendered panel page through the hooks that views/panel.njk keeps
 * stable: data-state, data-stat, data-build-source, lozenge classes, notice
 * classes and title attributes. Regular expressions are enough because the
 * template is ours and its markup is flat.
 */

export interface PanelStat {
  /** Visible text, e.g. "12.9B" or "—". */
  text: string;
  /** The title attribute, e.g. "12,916,987,208", or undefined when the element has none. */
  title: string | undefined;
}

export interface PanelNotice {
  /** "info", "warning" or "error" for notices, and "source" for the muted notes below the build list. */
  level: string;
  text: string;
}

export interface PanelBuild {
  /** data-build-source: "bitbucket" or "docker-hub". */
  source: string;
  /** Suffix of the lozenge class, e.g. "passing" for lozenge-passing. */
  state: string;
  label: string;
  name: string;
  href: string | undefined;
}

export interface PanelPage {
  /** data-state of the panel section, or undefined when the page has no panel section. */
  state: string | undefined;
  /** Visible text of the body with tags removed, entities decoded and white space collapsed. */
  text: string;
  notices: PanelNotice[];
  stats: Record<'stars' | 'pulls' | 'last-pushed', PanelStat | undefined>;
  image: { reference: string; href: string; official: boolean; defaultName: boolean } | undefined;
  builds: PanelBuild[];
  /** The line under the build list that names where build results come from. */
  buildSourceLine: string | undefined;
  tagNames: string[];
}

export function parsePanelHtml(html: string): PanelPage {
  return {
    state: /<section class="panel" data-state="([^"]*)"/.exec(html)?.[1],
    text: visibleText(/<body>([\s\S]*)<\/body>/.exec(html)?.[1] ?? html),
    notices: parseNotices(html),
    stats: {
      stars: parseStat(html, 'stars'),
      pulls: parseStat(html, 'pulls'),
      'last-pushed': parseStat(html, 'last-pushed'),
    },
    image: parseImage(html),
    builds: parseBuilds(html),
    buildSourceLine: optionalText(/<p class="source[^"]*">([\s\S]*?)<\/p>/.exec(html)?.[1]),
    tagNames: [...html.matchAll(/<td><code>([^<]*)<\/code>/g)].map((match) => decodeEntities(match[1])),
  };
}

/** Returns the text of every notice of `level`, in page order. */
export function noticeTexts(page: PanelPage, level?: string): string[] {
  return page.notices.filter((notice) => level === undefined || notice.level === level).map((notice) => notice.text);
}

function parseNotices(html: string): PanelNotice[] {
  const notices: PanelNotice[] = [];
  for (const match of html.matchAll(/<p class="(notice notice-(\w+)|note-source)">([\s\S]*?)<\/p>/g)) {
    notices.push({ level: match[2] ?? 'source', text: visibleText(match[3]) });
  }
  return notices;
}

function parseStat(html: string, name: string): PanelStat | undefined {
  const inner = new RegExp(`<dd data-stat="${name}">([\\s\\S]*?)</dd>`).exec(html)?.[1];
  if (inner === undefined) {
    return undefined;
  }
  const title = /title="([^"]*)"/.exec(inner)?.[1];
  return { text: visibleText(inner), title: title === undefined ? undefined : decodeEntities(title) };
}

function parseImage(html: string): PanelPage['image'] {
  const match = /<a class="image-name" href="([^"]*)"[^>]*>([\s\S]*?)<\/a>/.exec(html);
  if (!match) {
    return undefined;
  }
  return {
    reference: visibleText(match[2]),
    href: decodeEntities(match[1]),
    official: html.includes('class="tag-official"'),
    defaultName: />default name</.test(html),
  };
}

function parseBuilds(html: string): PanelBuild[] {
  const builds: PanelBuild[] = [];
  for (const match of html.matchAll(/<li class="build [^"]*" data-build-source="([^"]*)">([\s\S]*?)<\/li>/g)) {
    const inner = match[2];
    const lozenge = /<span class="lozenge lozenge-([\w-]+)">([^<]*)<\/span>/.exec(inner);
    const link = /<a href="([^"]*)"[^>]*>([\s\S]*?)<\/a>/.exec(inner);
    const plainName = /<\/span>\s*<span>([\s\S]*?)<\/span>/.exec(inner);
    builds.push({
      source: match[1],
      state: lozenge?.[1] ?? '',
      label: decodeEntities(lozenge?.[2] ?? ''),
      name: visibleText(link?.[2] ?? plainName?.[1] ?? ''),
      href: link ? decodeEntities(link[1]) : undefined,
    });
  }
  return builds;
}

function optionalText(html: string | undefined): string | undefined {
  return html === undefined ? undefined : visibleText(html);
}

function visibleText(html: string): string {
  const withoutScripts = html.replace(/<(script|style)\b[\s\S]*?<\/\1>/gi, ' ');
  return decodeEntities(withoutScripts.replace(/<[^>]*>/g, ' '))
    .replace(/\s+/g, ' ')
    .trim();
}

/** Decodes the entities nunjucks' autoescape produces, plus numeric ones. */
function decodeEntities(text: string): string {
  return text
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCodePoint(Number(code)))
    .replace(/&#x([0-9a-f]+);/gi, (_, code: string) => String.fromCodePoint(parseInt(code, 16)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}
