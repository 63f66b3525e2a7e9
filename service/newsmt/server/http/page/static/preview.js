// The rendered preview of HTML and Markdown: the one place where document text becomes
// markup. Markdown is rendered by marked; both then go through DOMPurify with an allowlist of
// text-level and structural elements only: no script, no style (the CSP refuses inline
// styles anyway), no image, media, frame, form or SVG, and no attribute that could load or
// link anything (no src, no href, no srcset). DOMPurify hands back a DocumentFragment, so no
// sanitised string is ever parsed again (no mutation XSS). Nothing in a preview loads a
// remote resource, and the CSP (`default-src 'self'`) would refuse it if it tried.

import DOMPurify from './vendor/purify.es.mjs';
import { marked } from './vendor/marked.esm.js';

const ALLOWED_TAGS = [
  'a', 'abbr', 'b', 'blockquote', 'br', 'caption', 'cite', 'code', 'dd', 'del', 'dfn', 'div',
  'dl', 'dt', 'em', 'figcaption', 'figure', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'i',
  'ins', 'kbd', 'li', 'mark', 'ol', 'p', 'pre', 'q', 's', 'samp', 'small', 'span', 'strong',
  'sub', 'sup', 'table', 'tbody', 'td', 'tfoot', 'th', 'thead', 'time', 'tr', 'u', 'ul',
  'article', 'section', 'header', 'footer', 'aside', 'main', 'nav',
];
const ALLOWED_ATTR = ['title', 'lang', 'dir', 'colspan', 'rowspan', 'datetime', 'cite'];

const CONFIG = {
  ALLOWED_TAGS,
  ALLOWED_ATTR,
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  KEEP_CONTENT: true,
  // Their text is code or style, not the document's prose: drop it with the element.
  FORBID_CONTENTS: ['script', 'style', 'template', 'noscript', 'iframe', 'object', 'svg', 'math', 'title', 'head'],
  RETURN_DOM_FRAGMENT: true,
};

// An image is shown as its alt text in brackets, so the reader knows it is there.
DOMPurify.addHook('uponSanitizeElement', (node, data) => {
  if (data.tagName === 'img' && node.parentNode) {
    const alt = node.getAttribute('alt');
    node.parentNode.insertBefore(node.ownerDocument.createTextNode(alt ? `[image: ${alt}]` : '[image]'), node);
  }
});

/** A DocumentFragment of `text` rendered: HTML as it is, Markdown through marked. */
export function render(text, format) {
  const html = format === 'TEXT_FORMAT_MARKDOWN' ? marked.parse(text, { async: false, gfm: true }) : text;
  return DOMPurify.sanitize(html, CONFIG);
}
