/** JSON.parse that answers undefined for text that is not JSON, for values read back from Redis. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
