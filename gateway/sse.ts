// Server-sent events: an incremental parser (chunks may split lines, events and UTF-8 characters
// anywhere) and the serializer replay uses. Follows the WHATWG event-stream rules that matter here:
// `field: value` lines, multi-line `data` joined with "\n", comments (`:`) ignored, an event ends
// at a blank line; CRLF, LF and CR line ends.
import { StringDecoder } from 'node:string_decoder';

export interface SseEvent {
  event?: string;
  data: string;
  id?: string;
  retry?: number;
}

export class SseParser {
  private decoder = new StringDecoder('utf8');
  private buf = '';
  private event: { event?: string; data: string[]; id?: string; retry?: number } = { data: [] };
  private sawField = false;

  constructor(private readonly onEvent: (e: SseEvent) => void) {}

  push(chunk: Buffer | string): void {
    const buf = this.buf + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    // Lines found with indexOf, not a regex, and the buffer cut once per chunk, not once per line:
    // the meter runs this on every streamed event, between the upstream's bytes and the client's.
    let start = 0;
    let lf = buf.indexOf('\n');
    let cr = buf.indexOf('\r');
    for (;;) {
      if (lf !== -1 && lf < start) lf = buf.indexOf('\n', start);
      if (cr !== -1 && cr < start) cr = buf.indexOf('\r', start);
      const end = cr === -1 || (lf !== -1 && lf < cr) ? lf : cr;
      if (end === -1) break;
      let next = end + 1;
      if (end === cr) {
        // A lone CR at the very end might be the first half of CRLF: wait for more.
        if (next === buf.length) break;
        if (buf.charCodeAt(next) === 10) next++;
      }
      this.line(buf.slice(start, end));
      start = next;
    }
    this.buf = start === 0 ? buf : buf.slice(start);
  }

  /** The stream ended: an event that lacked its final blank line still counts. */
  end(): void {
    this.buf += this.decoder.end();
    if (this.buf.length) this.line(this.buf.replace(/\r$/, ''));
    this.buf = '';
    this.dispatch();
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    this.sawField = true;
    if (field === 'data') this.event.data.push(value);
    else if (field === 'event') this.event.event = value;
    else if (field === 'id') this.event.id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.event.retry = Number(value);
  }

  private dispatch(): void {
    if (this.sawField && (this.event.data.length || this.event.event !== undefined)) {
      const e: SseEvent = { data: this.event.data.join('\n') };
      if (this.event.event !== undefined) e.event = this.event.event;
      if (this.event.id !== undefined) e.id = this.event.id;
      if (this.event.retry !== undefined) e.retry = this.event.retry;
      this.onEvent(e);
    }
    this.event = { data: [] };
    this.sawField = false;
  }
}

export function parseSse(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  const p = new SseParser((e) => out.push(e));
  p.push(text);
  p.end();
  return out;
}

/** One event as a provider writes it: `event:` line, `data:` lines, blank line. */
export function serializeSseEvent(e: SseEvent): string {
  let s = '';
  if (e.event !== undefined) s += `event: ${e.event}\n`;
  if (e.id !== undefined) s += `id: ${e.id}\n`;
  if (e.retry !== undefined) s += `retry: ${e.retry}\n`;
  for (const line of e.data.split('\n')) s += `data: ${line}\n`;
  return s + '\n';
}
