// Small statistics helpers: quantiles over samples, and median with min–max over rounds.

/** Linear-interpolated quantile (q in 0..1) of already sorted numbers. */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN
  if (sorted.length === 1) return sorted[0]!
  const position = (sorted.length - 1) * q
  const below = Math.floor(position)
  const above = Math.ceil(position)
  const low = sorted[below]!
  return low + (sorted[above]! - low) * (position - below)
}

export function quantile(values: readonly number[], q: number): number {
  return quantileSorted([...values].sort((a, b) => a - b), q)
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5)
}

/** One number per round, summarised: the headline is the median of the rounds. */
export interface Spread {
  median: number
  min: number
  max: number
  /** The per-round values, in round order. */
  rounds: number[]
}

export function spread(rounds: readonly number[]): Spread | null {
  const finite = rounds.filter((value) => Number.isFinite(value))
  if (finite.length === 0) return null
  return { median: median(finite), min: Math.min(...finite), max: Math.max(...finite), rounds: [...rounds] }
}

export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value
  const factor = 10 ** digits
  return Math.round(value * factor) / factor
}

/** A duration for labels and logs: `5 s`, `2 min`. */
export function durationText(ms: number): string {
  return ms >= 60_000 ? `${round(ms / 60_000, 1)} min` : `${round(ms / 1000, 1)} s`
}

/** Largest value (a loop: samples may be too many for Math.max's arguments). */
export function maxOf(values: readonly number[]): number {
  let max = Number.NEGATIVE_INFINITY
  for (const value of values) if (value > max) max = value
  return values.length === 0 ? Number.NaN : max
}
