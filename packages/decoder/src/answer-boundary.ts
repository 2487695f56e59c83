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
    /** A live view of the canvas's answer positions; replaced by `setAnswer` when the canvas grows. */
    private answer: Int32Array,
    private readonly mask: number,
    private readonly eos: number,
    private readonly stopSequences: readonly (readonly number[])[],
  ) {}

  /** The answer view after a continuation block was appended (the old positions are unchanged). */
  setAnswer(answer: Int32Array): void {
    this.answer = answer;
  }

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

  /**
   * How many leading answer tokens are certainly in the answer: the answer's length once its end
   * is known; otherwise the committed prefix up to the first position where a stop sequence may
   * still complete (its tokens so far match and its remaining positions are masked, or lie past
   * the canvas while `canGrow`). Never decreases, since a committed token rules a sequence out for good.
   */
  settledLength(canGrow: boolean): number {
    if (this.answerLength !== null) return this.answerLength;
    const prefix = this.committedPrefix;
    let settled = prefix;
    for (const sequence of this.stopSequences) {
      // Sequences ending inside the prefix were checked by `advance`; only those reaching past it remain.
      for (let start = Math.max(0, prefix - sequence.length + 1); start < settled; start++) {
        if (this.mayComplete(sequence, start, canGrow)) {
          settled = start;
          break;
        }
      }
    }
    return settled;
  }

  private mayComplete(sequence: readonly number[], start: number, canGrow: boolean): boolean {
    for (let k = 0; k < sequence.length; k++) {
      const p = start + k;
      if (p >= this.answer.length) return canGrow;
      const token = this.answer[p]!;
      if (token !== this.mask && token !== sequence[k]) return false;
    }
    return true;
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
