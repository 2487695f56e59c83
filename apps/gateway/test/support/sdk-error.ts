import OpenAI from 'openai';

/** The typed error an openai SDK call fails with; throws when the call succeeds. */
export async function sdkError(call: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await call;
  } catch (error) {
    if (error instanceof OpenAI.APIError) return error;
    throw error;
  }
  throw new Error('expected the SDK call to fail');
}
