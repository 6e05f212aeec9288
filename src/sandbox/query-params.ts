/** Query parameter parsing shared by the simulators. */

/** Reads an integer query parameter, clamped to [min, max]; a missing or non-numeric value gives `fallback`. */
export function intParam(value: unknown, fallback: number, min: number, max: number): number {
  if (typeof value !== 'string' || !/^-?\d{1,16}$/.test(value)) {
    return fallback;
  }
  return Math.min(max, Math.max(min, Number(value)));
}
