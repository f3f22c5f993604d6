/**
 * Queries into `query-qmp-schema` in libvirt's path syntax (qemu_qapi.c):
 * `command/arg-type/member/+variant/^enumvalue/$feature/!jsontype`, arrays flattened and
 * alternates tried member by member.
 */
type Entry = Record<string, any>;
export type QapiSchema = Map<string, Entry>;

export function indexSchema(reply: unknown): QapiSchema {
  const schema: QapiSchema = new Map();
  if (Array.isArray(reply)) {
    for (const e of reply) if (e && typeof e.name === 'string') schema.set(e.name, e);
  }
  return schema;
}

const hasFeature = (feature: string, el: Entry): boolean =>
  Array.isArray(el.features) && el.features.includes(feature);

function splitModifier(q: string): [string, string] {
  const c = q[0] ?? '';
  return /[a-zA-Z]/.test(c) ? ['', q] : [c, q.slice(1)];
}

function traverse(base: string | undefined, queries: string[], schema: QapiSchema, depth: number): boolean {
  if (base === undefined || depth > 1000) return false;
  const cur = schema.get(base);
  if (!cur) return false;
  if (queries.length === 0) return true;
  const [query, ...rest] = queries as [string, ...string[]];
  switch (cur['meta-type']) {
    case 'object': {
      const [mod, name] = splitModifier(query);
      if (mod === '^' || mod === '!') return false;
      if (mod === '$') return rest.length === 0 && hasFeature(name, cur);
      let obj: Entry | undefined;
      if (mod === '+') obj = (cur.variants ?? []).find((v: Entry) => v.case === name);
      else {
        obj = (cur.members ?? []).find((m: Entry) => m.name === name);
        if (mod === '*' && obj && !('default' in obj)) return false;
      }
      return obj ? traverse(obj.type, rest, schema, depth + 1) : false;
    }
    case 'array':
      return traverse(cur['element-type'], queries, schema, depth + 1);
    case 'command':
    case 'event': {
      const [mod, name] = splitModifier(query);
      if (mod === '^' || mod === '!' || mod === '+' || mod === '*') return false;
      if (mod === '$') return rest.length === 0 && hasFeature(name, cur);
      return traverse(cur[name], rest, schema, depth + 1);
    }
    case 'enum': {
      if (query[0] !== '^') return false;
      const value = query.slice(1);
      let feature: string | undefined;
      if (rest.length > 0) {
        if (rest.length > 1 || rest[0]![0] !== '$') return false;
        feature = rest[0]!.slice(1);
      }
      if (Array.isArray(cur.members)) {
        const m = cur.members.find((x: Entry) => x.name === value);
        return m ? (feature ? hasFeature(feature, m) : true) : false;
      }
      return feature ? false : Array.isArray(cur.values) && cur.values.includes(value);
    }
    case 'builtin':
      return query[0] === '!' && rest.length === 0 && cur['json-type'] === query.slice(1);
    case 'alternate':
      return (cur.members ?? []).some((m: Entry) => traverse(m.type, queries, schema, depth + 1));
    default:
      return false;
  }
}

/** True when `query` (libvirt's virQEMUQAPISchemaPathExists syntax) matches the schema. */
export function schemaPathExists(query: string, schema: QapiSchema): boolean {
  const [head, ...rest] = query.split('/');
  return traverse(head, rest, schema, 0);
}
