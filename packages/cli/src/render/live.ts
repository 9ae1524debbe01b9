import type { Colors } from "./colors.js";

/*
 * What the live views of apply/teardown (progress.ts) and verify (verify.ts) share: lines that
 * are done are printed once above, an area below is redrawn in place about ten times a second
 * (cursor up, erase down) with the cursor hidden until the view stops.
 */

export interface Writer {
  write(text: string): unknown;
}

export interface LiveStream extends Writer {
  columns?: number;
  rows?: number;
}

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export abstract class LiveArea {
  /** Lines to print once above the area at the next redraw. */
  protected pending: string[] = [];
  private drawn = 0;
  private frame = 0;
  protected stopped = false;
  private timer: NodeJS.Timeout | undefined;
  protected readonly t0: number;
  private readonly restoreCursor = () => this.out.write("\u001b[?25h");

  constructor(
    protected readonly out: LiveStream,
    protected readonly c: Colors,
    protected readonly now: () => number,
  ) {
    this.t0 = now();
  }

  /** The redrawn area's lines (none once stopped). */
  protected abstract area(cols: number): string[];

  start(): this {
    if (this.timer || this.stopped) return this;
    this.out.write("\u001b[?25l");
    process.once("exit", this.restoreCursor);
    this.timer = setInterval(() => this.render(), 100);
    this.render();
    return this;
  }

  note(text: string): void {
    // Indented like the lines around it.
    if (this.stopped) this.out.write(`  ${text}\n`);
    else {
      this.pending.push(`  ${text}`);
      this.render();
    }
  }

  /** Stops redrawing and leaves the final state on screen. Safe to call twice. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.render();
    if (this.timer) {
      this.restoreCursor();
      process.removeListener("exit", this.restoreCursor);
    }
    this.timer = undefined;
  }

  /** The text of one redraw (exposed for tests); `render` writes it. */
  frameText(): string {
    const cols = this.cols();
    let s = this.drawn > 0 ? `\u001b[${this.drawn}A\r\u001b[J` : "";
    for (const l of this.pending) s += `${l}\n`;
    this.pending = [];
    const lines = this.stopped ? [] : this.area(cols);
    for (const l of lines) s += `${l}\n`;
    this.drawn = lines.length;
    this.frame++;
    return s;
  }

  /** This redraw's spinner frame. */
  protected spinner(): string {
    return this.c.cyan(SPINNER[this.frame % SPINNER.length] as string);
  }

  protected cols(): number {
    return Math.max(20, (this.out.columns || 80) - 1);
  }

  private render(): void {
    const s = this.frameText();
    if (s) this.out.write(s);
  }
}
