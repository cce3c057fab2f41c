/**
 * Server-Sent Events (text/event-stream), both ends: `sseFrame` writes one event, `SseParser` reads a
 * stream back into events whatever the chunking. Pure (no Node or DOM API), so the master's live feed,
 * the browser dashboard and `upsfleet monitor` share it.
 */

export interface SseEvent {
  /** The `event:` field; 'message' when absent. */
  event: string;
  data: string;
}

/** One event; `data` may hold newlines (each line becomes its own `data:` field). */
export function sseFrame(data: string, event?: string): string {
  const head = event ? `event: ${event}\n` : '';
  return `${head}${data
    .split(/\r\n|\r|\n/)
    .map((l) => `data: ${l}`)
    .join('\n')}\n\n`;
}

/** A comment line: keeps an idle stream from being cut by a proxy or a phone's network stack. */
export const SSE_KEEPALIVE = ': keepalive\n\n';

export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';

  /** Feeds decoded text; returns the events it completed. */
  push(text: string): SseEvent[] {
    this.buffer += text;
    const out: SseEvent[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      // a lone \r at the end may be the first half of \r\n: wait for more
      if (!m || (m[0] === '\r' && m.index === this.buffer.length - 1)) break;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      if (line === '') {
        if (this.data.length > 0) out.push({ event: this.event || 'message', data: this.data.join('\n') });
        this.data = [];
        this.event = '';
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.event = value;
    }
    return out;
  }
}
