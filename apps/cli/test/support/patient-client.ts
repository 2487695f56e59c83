import { eventually, getJson, postCompletion, prompt, type HttpAnswer } from '@dfleet/test-support';

/** What one client saw: its request's job id and the text it was answered with (or read back). */
export interface PatientOutcome {
  readonly id: string;
  readonly text: string;
  readonly answeredBy: 'response' | 'read-back';
  /** 503s (not accepted) it met before its request was accepted. */
  readonly refusals: number;
}

/**
 * A client as the README tells it to behave through a Redis failover: it retries after a 503
 * (not accepted: nothing to lose; an add that landed after the budget is a job nobody waits
 * for), and after a 504 (accepted, no result yet) reads the job until it is done. Any other
 * answer throws.
 */
export async function patientCompletion(httpUrl: string, i: number): Promise<PatientOutcome> {
  const body = { model: 'jsfunc-mdm', prompt: prompt(i), max_tokens: 48, dfleet: { strategy: 'reference', steps: 48 } };
  let refusals = 0;
  for (;;) {
    const answer = await postCompletion(httpUrl, body, { timeoutMs: 120_000 });
    if (answer.status === 503) {
      refusals++;
      await new Promise((resolve) => setTimeout(resolve, 250));
      continue;
    }
    if (answer.status === 200) {
      return { id: answer.body['id'] as string, text: choiceText(answer.body), answeredBy: 'response', refusals };
    }
    const id = /job '([^']+)'/.exec(String(answer.body['error']?.['message']))?.[1];
    if (answer.status !== 504 || id === undefined) {
      throw new Error(`request ${i} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    }
    const done = await eventually(`job ${id} readable as completed`, async () => {
      const job = await getJson(`${httpUrl}/v1/jobs/${id}`);
      return job.body['state'] === 'completed' ? job : undefined;
    });
    return { id, text: choiceText(done.body['result']), answeredBy: 'read-back', refusals };
  }
}

function choiceText(body: HttpAnswer['body'] | undefined): string {
  return String(body?.['choices']?.[0]?.['text']);
}
