// Line and column of a place in a parsed YAML file, for problems: shared by the graph file and the
// tasks files of `agentvisor add` and agents' proposals.
import { isMap, isNode, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { Problem } from './problems';

export type At = (offset: number) => { line: number; column: number };

/** A parsed document and a way to turn offsets into line and column; or the first syntax error. */
export function parseYamlWithPlaces(text: string): { doc: Document; at: At; syntaxProblem?: Problem } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const at: At = (offset) => {
    const pos = lines.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  if (doc.errors.length === 0) return { doc, at };
  // the first syntax error is the one to fix; the rest usually follow from it
  const first = doc.errors[0];
  const more = doc.errors.length > 1 ? ` (and ${doc.errors.length - 1} more errors after it)` : '';
  return { doc, at, syntaxProblem: { message: `YAML: ${first.message.split('\n')[0]}${more}`, ...at(first.pos[0]) } };
}

const keyOf = (k: string | number) => (typeof k === 'string' && /^\d+$/.test(k) ? Number(k) : k);

/** Where the node at a path is written, walking up until a node exists (a missing key is placed at its parent). */
export function placeOf(doc: Document, p: (string | number)[], at: At): { line?: number; column?: number } {
  for (let n = p.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(p.slice(0, n).map(keyOf), true);
    if (isNode(node) && node.range) return at(node.range[0]);
  }
  return {};
}

/** Where an unknown key itself is written (its map may span lines). */
export function placeOfKey(doc: Document, p: (string | number)[], key: string, at: At): { line: number; column: number } | undefined {
  const map = p.length === 0 ? doc.contents : doc.getIn(p.map(keyOf), true);
  if (!isMap(map)) return undefined;
  const pair = map.items.find((item) => isScalar(item.key) && String(item.key.value) === key);
  return isNode(pair?.key) && pair.key.range ? at(pair.key.range[0]) : undefined;
}
