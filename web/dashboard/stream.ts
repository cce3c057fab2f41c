/**
 * The browser's end of the master's live stream (`GET /live`, Server-Sent Events) read through fetch, so
 * that the viewer token goes in an Authorization header rather than in the URL (EventSource cannot set
 * headers). Reconnects with a growing delay; every connection starts with a fresh snapshot.
 */
import { SseParser } from '../../shared/http/sse.js';

export interface StreamHandlers {
  message(data: string): void;
  state(state: 'connecting' | 'live' | 'reconnecting' | 'refused', detail?: string): void;
}

export class LiveStream {
  private abort: AbortController | null = null;
  private stopped = false;
  private delayMs = 500;

  constructor(
    private readonly url: string,
    private readonly token: () => string | null,
    private readonly on: StreamHandlers,
  ) {}

  start(): void {
    this.stopped = false;
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  /** Drops the current connection and connects again at once (a new token). */
  restart(): void {
    this.abort?.abort();
    this.delayMs = 500;
    if (this.stopped) this.start();
  }

  private async loop(): Promise<void> {
    let first = true;
    while (!this.stopped) {
      this.on.state(first ? 'connecting' : 'reconnecting');
      first = false;
      const abort = new AbortController();
      this.abort = abort;
      try {
        const token = this.token();
        const res = await fetch(this.url, {
          headers: { accept: 'text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
          cache: 'no-store',
          signal: abort.signal,
        });
        if (res.status === 401) {
          this.on.state('refused', token ? 'this token is not accepted' : 'a viewer token is needed');
          this.stopped = true;
          return;
        }
        if (!res.ok || !res.body) throw new Error(`the master answered ${res.status}`);
        this.on.state('live');
        this.delayMs = 500;
        const parser = new SseParser();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const ev of parser.push(value)) this.on.message(ev.data);
        }
      } catch {
        // network gone, master restarting, or our own abort: try again below
      }
      if (this.stopped) return;
      if (!abort.signal.aborted) {
        await new Promise((r) => setTimeout(r, this.delayMs));
        this.delayMs = Math.min(this.delayMs * 2, 10_000);
      }
    }
  }
}
