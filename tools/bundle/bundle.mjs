#!/usr/bin/env node
// qvirt-bundle ENTRY OUTDIR: ENTRY's whole module graph (workspace packages and npm dependencies)
// as OUTDIR/<entry name>.js plus one chunk per part that only a dynamic import reaches, for a bin
// to import. Node 20 pays ~0.5–1 ms per ESM module it resolves, reads and links, and qvirsh and
// qvirtd load up to ~300 of them; a handful of files replaces them. What the bundle must not change:
// - What a program imports dynamically stays a separate chunk, read only when that path runs: V8
//   parses every byte it is given, so a remote qvirsh command must not parse the driver.
// - `import.meta.url` keeps meaning the original file (data files, koffi and child programs are
//   found relative to it): each occurrence becomes that file's URL, relative to the bundle.
// - Native addons (koffi) stay outside.
// - JSON modules stay JSON: `JSON.parse` of one string literal, which V8 reads several times faster
//   than the same data as a JavaScript object literal (libvirt's protocol facts are 400 KB).
// - Node's built-in modules are taken with `require`: an ESM import of `node:fs` builds its ESM
//   facade by reading every export, which loads the lazy streams (~15 ms) and more. Done on
//   esbuild's output, whose import lines for externals have one fixed shape.
// No V8 code cache: Node 20 offers one only through vm.Script, and V8 11.3 crashed (SIGSEGV, or
// "Receiver must be class") running qvirtd's bundle from its own cache.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';

const [entry, out] = process.argv.slice(2);
if (!entry || !out) {
  process.stderr.write('usage: qvirt-bundle ENTRY OUTDIR\n');
  process.exit(2);
}
const outDir = path.resolve(out);

const keepImportMetaUrl = {
  name: 'keep-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.[cm]?js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const rel = path.relative(outDir, args.path).split(path.sep).join('/');
      return {
        contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`),
        loader: 'js',
        resolveDir: path.dirname(args.path),
      };
    });
  },
};

const jsonAsJsonParse = {
  name: 'json-as-json-parse',
  setup(b) {
    b.onLoad({ filter: /\.json$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      JSON.parse(text); // fail the build here, not at run time
      return { contents: `export default JSON.parse(${JSON.stringify(text)});`, loader: 'js' };
    });
  },
};

/**
 * `import{a,b as c}from"node:fs";` (also a default, `* as ns`, both, or none) → the same bindings
 * by require. esbuild writes these statements for externals in this one shape, minified or not.
 */
function builtinsByRequire(code) {
  return code.replace(
    /\bimport\s*(?:([\w$]+)\s*,?\s*)?(?:\*\s*as\s+([\w$]+)|\{([^}]*)\})?\s*(?:from\s*)?"(node:[\w/]+)";?/g,
    (_, def, ns, names, mod) => {
      const parts = [];
      if (def) parts.push(`${def} = require("${mod}")`);
      if (ns) parts.push(`${ns} = require("${mod}")`);
      if (names !== undefined) {
        const list = names
          .split(',')
          .map((n) => n.trim())
          .filter(Boolean)
          .map((n) => n.replace(/^([\w$]+)\s+as\s+([\w$]+)$/, '$1: $2'));
        parts.push(`{ ${list.join(', ')} } = require("${mod}")`);
      }
      return parts.length ? `const ${parts.join(', ')};` : `require("${mod}");`;
    },
  );
}

const result = await build({
  entryPoints: [entry],
  outdir: outDir,
  entryNames: '[name]',
  chunkNames: 'chunk-[hash]',
  splitting: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['koffi'],
  // fewer bytes to read and parse at every start; names stay, so stacks and profiles still read
  minifyWhitespace: true,
  minifySyntax: true,
  plugins: [keepImportMetaUrl, jsonAsJsonParse],
  banner: {
    js: "import { createRequire as __qvirtCreateRequire } from 'node:module'; const require = __qvirtCreateRequire(import.meta.url);",
  },
  write: false,
  logLevel: 'warning',
  metafile: true,
});
await rm(outDir, { recursive: true, force: true });
await mkdir(outDir, { recursive: true });
for (const f of result.outputFiles) await writeFile(f.path, builtinsByRequire(f.text));
const inputs = Object.keys(result.metafile.inputs).length;
const outputs = Object.keys(result.metafile.outputs).length;
process.stdout.write(`${path.relative(process.cwd(), outDir)}: ${inputs} modules in ${outputs} files\n`);
