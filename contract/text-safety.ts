// Text an agent could have written (its error tail, the names of the files it left, what its
// proposals say, the prompts it proposed), made safe for where it is shown: the Temporal UI's
// details (markdown that may hold HTML), the HTML report, and the terminal (the CLI's tables and
// status lines). An agent must not be able to add links, images or markup to the UI, nor move the
// cursor, recolour, retitle or clear the user's terminal. Pure: workflows use it too.

/**
 * ANSI escape sequences, in their 7-bit (ESC …) and 8-bit (C1) forms: CSI (cursor, colour, erase),
 * OSC (window title, hyperlinks, clipboard), DCS/SOS/PM/APC strings, and two-byte escapes (reset,
 * charset). An unterminated string sequence runs to the end of the text.
 */
const ANSI = new RegExp(
  [
    '(?:\\x1b\\[|\\x9b)[\\x30-\\x3f]*[\\x20-\\x2f]*[\\x40-\\x7e]?', // CSI
    '(?:\\x1b[\\]PX^_]|[\\x90\\x98\\x9d\\x9e\\x9f])[^\\x07\\x1b\\x9c]*(?:\\x07|\\x1b\\\\|\\x9c)?', // OSC, DCS, SOS, PM, APC … ST
    '\\x1b[\\x20-\\x2f]*[\\x30-\\x7e]?', // ESC c, ESC ( B, ESC 7, and a lone ESC
  ].join('|'),
  'g',
);

/** Control characters left after the sequences: C0 (but tab and newline), DEL, C1. */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/** Characters that reorder or hide what follows (bidi overrides and isolates, marks): "Trojan source". */
const INVISIBLE = /[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;

/**
 * For the terminal: without escape sequences, control characters or bidi controls. Tabs become
 * spaces; newlines are kept with `multiline`, else they (and the line separators) become spaces,
 * so one value stays on its line.
 */
export function terminalText(text: unknown, opts: { multiline?: boolean } = {}): string {
  const s = String(text ?? '')
    .replace(ANSI, '')
    .replace(/\r\n?/g, '\n')
    .replace(CONTROL, '')
    .replace(INVISIBLE, '')
    .replace(/\t/g, ' ');
  return opts.multiline ? s.replace(/[\u2028\u2029]/g, '\n') : s.replace(/[\n\u2028\u2029]/g, ' ');
}

/** For HTML (text and attribute values). */
export function htmlText(text: unknown): string {
  return String(text ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Markdown's punctuation: emphasis, code, links and images, tables, strikethrough, headings, and
 * HTML (`<`, `>`) and entities (`&`). A backslash makes each one literal in CommonMark, which
 * the Temporal UI's renderer (it shows entities as they are written) and GitHub's both follow.
 */
const MARKDOWN_PUNCTUATION = /[\\`*_{}[\]()#!|~<>&]/g;

/**
 * For one line of markdown (a table cell, a line of the details): shown as the text it is.
 * Markdown's punctuation is backslash-escaped, and what the terminal must not get is gone too
 * (newlines become spaces: a value cannot start a new row or block). No link, image or HTML can be
 * written, nor a bare URL that a renderer would link (`://` and `www.` are escaped too).
 */
export function markdownText(text: unknown): string {
  return terminalText(text)
    .replace(MARKDOWN_PUNCTUATION, (c) => `\\${c}`)
    .replace(/:\/\//g, '\\://') // not a bare link either (GFM autolinks)
    .replace(/\bwww\./gi, (w) => `${w.slice(0, 3)}\\.`);
}

/**
 * For several lines of markdown (a prompt): each line as markdownText, with what would make it a
 * list item, quote, heading underline or rule at the start of a line escaped; lines are kept as
 * hard line breaks.
 */
export function markdownLines(text: unknown): string {
  return terminalText(text, { multiline: true })
    .split('\n')
    .map((line) =>
      markdownText(line).replace(/^(\s*)([-+=]|\d+(?=[.)]))/, (_, space: string, lead: string) =>
        /\d/.test(lead) ? `${space}${lead}\\` : `${space}\\${lead}`,
      ),
    )
    .join('  \n');
}

/**
 * A markdown table row of cells already made safe (markdownText). Each cell but the last ends in
 * two no-break spaces: the Temporal UI draws tables without cell padding, which ran the columns
 * together ("succeeded2.2s").
 */
export function markdownRow(cells: string[]): string {
  return `| ${cells.map((c, i) => (i < cells.length - 1 ? `${c}\u00a0\u00a0` : c)).join(' | ')} |`;
}
