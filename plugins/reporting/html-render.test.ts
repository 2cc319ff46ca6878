import { describe, expect, test } from "bun:test";
import { esc, renderPage, renderValue } from "./html-render.ts";

const EVIL = `<script>alert(1)</script><img src=x onerror="alert('x')">\`\${x}\` & "q" 'a'`;

function page(evil: string): string {
  return renderPage({
    title: `${evil} — falc analysis`,
    subtitle: evil,
    target: { filename: evil, filetype: evil, size: 1, sha256: "a".repeat(64), extrpath: [evil], platforms: [{ platform: evil, os_version: "" }] },
    score: 9,
    sections: [
      {
        title: evil,
        doc: {
          signatures: [{ name: evil, short_description: evil, description: evil, score: 9, family: evil, tags: [evil], ttps: [evil], iocs: [evil, { [evil]: evil }] }],
          [evil]: { [evil]: [evil, { a: evil }], nested: [{ k: evil, v: [evil] }] },
          strings: Array.from({ length: 1000 }, (_, i) => `${evil}${i}`),
          errors: { errors: [evil], fatal: [{ error: evil, traceback: `Error: ${evil}\n    at ${evil}` }] },
        },
      },
    ],
  });
}

describe("HTML report", () => {
  test("esc covers the characters that matter in text and attributes", () => {
    expect(esc(`<a href="x" title='y'>&\`</a>`)).toBe("&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&#96;&lt;/a&gt;");
  });

  test("hostile strings from a sample never come out as markup, wherever they appear", () => {
    const html = page(EVIL);
    expect(html).not.toContain("<script");
    expect(html).not.toContain("<img");
    expect(html).not.toContain('onerror="');
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;");
    // Every tag in the page is one of ours.
    const tags = new Set([...html.matchAll(/<\/?([a-zA-Z0-9!]+)/g)].map((m) => m[1]!.toLowerCase()));
    const ours = ["!doctype", "html", "head", "meta", "title", "style", "body", "header", "h1", "div", "main", "section", "h2", "span", "table", "tr", "th", "td", "thead", "tbody", "ul", "ol", "li", "details", "summary", "p", "b", "br", "pre"];
    for (const tag of tags) expect(ours).toContain(tag);
  });

  test("self-contained: no scripts, no external assets, a CSP that forbids loading anything", () => {
    const html = page("plain");
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
    expect(html).not.toMatch(/<(script|link|img|iframe|object|embed)\b/i);
    expect(html).not.toMatch(/\b(src|href)\s*=/i);
    expect(html).not.toMatch(/url\(/i);
  });

  test("long lists and strings are cut with a note, not dropped silently", () => {
    expect(page("x")).toContain("… 700 more not shown (see the JSON file)");
    expect(renderValue("y".repeat(5000))).toContain("1000 more characters");
    expect(renderValue(null)).toContain("null");
    expect(renderValue([])).toContain("none");
    // Deep nesting ends as escaped JSON rather than recursing for ever.
    let deep: unknown = "<b>bottom</b>";
    for (let i = 0; i < 20; i++) deep = { d: deep };
    const out = renderValue(deep);
    expect(out).toContain("&lt;b&gt;bottom&lt;/b&gt;");
    expect(out).not.toContain("<b>bottom");
  });
});
