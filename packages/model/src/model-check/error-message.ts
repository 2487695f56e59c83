/** The message of whatever a failed load or run threw. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
