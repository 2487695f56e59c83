import type { ReportProblem } from './report.ts';

/** The tokenizer may not name ids the model has no logits for; fewer ids are served, but unusual. */
export function checkTokenizerVocab(
  tokenizerVocabSize: number,
  vocabSize: number,
  tokenizerFile: string,
  report: ReportProblem,
): void {
  if (tokenizerVocabSize > vocabSize) {
    report(
      'error',
      'tokenizer_vocab_too_large',
      `${tokenizerFile} uses token ids up to ${tokenizerVocabSize - 1} but vocabSize is ${vocabSize}: ` +
        `the model has no logits for ids >= ${vocabSize}; expected tokenizer vocab size <= vocabSize`,
      tokenizerFile,
    );
  } else if (tokenizerVocabSize < vocabSize) {
    report(
      'warning',
      'tokenizer_vocab_smaller',
      `${tokenizerFile} has ${tokenizerVocabSize} token ids but vocabSize is ${vocabSize}: logits for ids ` +
        `${tokenizerVocabSize}..${vocabSize - 1} name no token (decoding drops them); usually the two are equal`,
      tokenizerFile,
    );
  }
}
