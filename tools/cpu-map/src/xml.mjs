// A minimal reader for the XML of libvirt's CPU map: elements, attributes (single or double
// quoted), self-closing tags, comments, text ignored. The map files use nothing else, and a
// parser of our own keeps the tool free of dependencies.

/**
 * @typedef {{ name: string, attrs: Record<string, string>, children: XmlNode[] }} XmlNode
 */

const ENTITIES = /** @type {Record<string, string>} */ ({
  '&lt;': '<',
  '&gt;': '>',
  '&amp;': '&',
  '&quot;': '"',
  '&apos;': "'",
});

/** @param {string} v */
function decodeEntities(v) {
  return v.replace(/&(lt|gt|amp|quot|apos);/g, (m) => ENTITIES[m] ?? m);
}

/**
 * Parses a document and returns its root element.
 * @param {string} text
 * @param {string} source  named in errors
 * @returns {XmlNode}
 */
export function parseXml(text, source) {
  /** @type {XmlNode[]} */
  const stack = [];
  /** @type {XmlNode | undefined} */
  let root;
  const tag =
    /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<(\/?)([A-Za-z_][\w.-]*)((?:\s+[\w.-]+\s*=\s*(?:'[^']*'|"[^"]*"))*)\s*(\/?)>/g;
  let last = 0;
  for (let m = tag.exec(text); m; m = tag.exec(text)) {
    const between = text.slice(last, m.index);
    if (between.includes('<'))
      throw new Error(`${source}: cannot parse near '${between.trim().slice(0, 40)}'`);
    last = tag.lastIndex;
    if (m[2] === undefined) continue; // comment or processing instruction
    const [, close, name, attrText = '', selfClose] = m;
    if (close) {
      const open = stack.pop();
      if (!open || open.name !== name) throw new Error(`${source}: unexpected </${name}>`);
      continue;
    }
    /** @type {Record<string, string>} */
    const attrs = {};
    for (const a of attrText.matchAll(/([\w.-]+)\s*=\s*(?:'([^']*)'|"([^"]*)")/g)) {
      attrs[/** @type {string} */ (a[1])] = decodeEntities(a[2] ?? a[3] ?? '');
    }
    /** @type {XmlNode} */
    const node = { name: /** @type {string} */ (name), attrs, children: [] };
    const parent = stack.at(-1);
    if (parent) parent.children.push(node);
    else if (root) throw new Error(`${source}: more than one root element`);
    else root = node;
    if (!selfClose) stack.push(node);
  }
  if (stack.length) throw new Error(`${source}: <${stack.at(-1)?.name}> is not closed`);
  if (!root) throw new Error(`${source}: no root element`);
  return root;
}
