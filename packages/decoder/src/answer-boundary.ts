/**
 * Reads the answer's committed contiguous prefix left to right as it grows and finds where the
 * answer ends: before the first eos, or before the first stop sequence to complete. Tokens never
 * un-commit, so once found the end never moves, and the scan is O(L) over the whole decode.
 */
export class AnswerBoundary {
  /** Answer positions [0, committedPrefix) are committed (or the scan stopped at the end). */
  committedPrefix = 0;
  /** Set once the end is found: the answer is positions [0, answerLength). */
  answerLength: number | null = null;
  endedBy: 'eos' | 'stop' | null = null;

  constructor(
    /** A live view of the canvas's answer positions. */
    private readonly answer: Int32Array,
    private readonly mask: number,
    private readonly eos: number,
    private readonly stopSequences: readonly (readonly number[])[],
  ) {}

  advance(): void {
    const { answer } = this;
    while (
      this.endedBy === null &&
      this.committedPrefix < answer.length &&
      answer[this.committedPrefix] !== this.mask
    ) {
      const p = this.committedPrefix++;
      if (answer[p] === this.eos) {
        this.end(p, 'eos');
      } else {
        const stopStart = this.earliestStopSequenceEndingAt(p);
        if (stopStart !== -1) this.end(stopStart, 'stop');
      }
    }
  }

  /** Start of the longest stop sequence ending at p (several may complete at once), or -1. */
  private earliestStopSequenceEndingAt(p: number): number {
    let earliest = -1;
    for (const sequence of this.stopSequences) {
      const start = p - sequence.length + 1;
      if (start < 0 || (earliest !== -1 && start >= earliest)) continue;
      let matches = true;
      for (let k = 0; k < sequence.length && matches; k++) matches = this.answer[start + k] === sequence[k];
      if (matches) earliest = start;
    }
    return earliest;
  }

  private end(answerLength: number, endedBy: 'eos' | 'stop'): void {
    this.answerLength = answerLength;
    this.endedBy = endedBy;
  }
}
