/**
 * Cuts a byte stream into protocol lines (`\n`, optional `\r`). A line longer than `maxLength` is
 * reported once through `onTooLong` and discarded up to its end, so a client cannot grow our buffer.
 */
export class LineSplitter {
  private buffer = '';
  private discarding = false;

  constructor(
    private readonly maxLength: number,
    private readonly onLine: (line: string) => void,
    private readonly onTooLong: () => void,
  ) {}

  push(chunk: string): void {
    let rest = chunk;
    for (;;) {
      const nl = rest.indexOf('\n');
      if (nl < 0) {
        if (this.discarding) return;
        this.buffer += rest;
        if (this.buffer.length > this.maxLength) {
          this.buffer = '';
          this.discarding = true;
          this.onTooLong();
        }
        return;
      }
      const piece = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      if (this.discarding) {
        this.discarding = false;
        continue;
      }
      const line = (this.buffer + piece).replace(/\r$/, '');
      this.buffer = '';
      if (line.length > this.maxLength) {
        this.onTooLong();
        continue;
      }
      this.onLine(line);
    }
  }
}
